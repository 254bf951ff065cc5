package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Backchannel delivers OpenID Connect back-channel logouts (OIDC Back-Channel
// Logout 1.0 §2.5, OP-06): it signs the claims the domain queued as a logout
// token at each attempt (Sign, wired by main to the provider's active key) and
// POSTs it form-encoded as logout_token to the client's URI. A 2xx is
// delivered; a 4xx other than 429 is the client refusing it for good;
// anything else is retried by the worker.
type Backchannel struct {
	Sign   func(ctx context.Context, claims string) (string, error)
	Client *http.Client // default: 10 s timeout, no redirects followed
}

// NewBackchannel returns the transport of channel twostep.ChannelBackchannel.
func NewBackchannel(sign func(ctx context.Context, claims string) (string, error)) *Backchannel {
	return &Backchannel{Sign: sign, Client: &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Deliver sends the logout token for the claims in m.Text to m.To.
func (b *Backchannel) Deliver(ctx context.Context, m Rendered) (string, error) {
	token, err := b.Sign(ctx, m.Text)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.To, strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return "", Permanent(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := b.Client.Do(req)
	if err != nil {
		return "", fmt.Errorf("notify: back-channel logout: %w", errors.Unwrap(err))
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return "", nil
	case res.StatusCode >= 400 && res.StatusCode < 500 && res.StatusCode != http.StatusTooManyRequests:
		return "", Permanent(fmt.Errorf("notify: back-channel logout refused: %s", res.Status))
	}
	return "", fmt.Errorf("notify: back-channel logout: %s", res.Status)
}

// backchannelMessage is what the worker hands the transport for a queued
// back-channel logout: the claims to sign, with no words to render.
func backchannelMessage(m *twostep.OutboxMessage, data map[string]string) Rendered {
	return Rendered{Channel: m.Channel, To: m.To, Text: data["claims"]}
}
