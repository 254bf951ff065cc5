package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// What the SMS and voice transports share.

// defaultPhoneTimeout bounds one request to a provider, the answer included.
const defaultPhoneTimeout = 10 * time.Second

// e164 is a phone number in E.164 form: "+", a country code, at most 15 digits.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// checkPhone refuses, permanently, what a phone transport cannot carry: a
// channel other than sms and voice, or a recipient that is not E.164. The
// error does not repeat the number.
func checkPhone(provider string, m Rendered) error {
	if m.Channel != "sms" && m.Channel != "voice" {
		return Permanent(fmt.Errorf("notify: %s: cannot carry channel %q", provider, m.Channel))
	}
	if !e164.MatchString(m.To) {
		return Permanent(fmt.Errorf("notify: %s: the recipient is not an E.164 phone number", provider))
	}
	return nil
}

// parseHTTPURL checks that raw is an absolute http(s) URL with a host; what
// is wrong is named without repeating the URL, which may hold a secret.
func parseHTTPURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("notify: %s: %v", what, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("notify: %s: scheme %q, want http or https", what, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("notify: %s: no host", what)
	}
	return u, nil
}

// post sends body to u within timeout and returns the status and at most
// 64 KiB of the answer. Its error is a network failure, without the URL
// (which may hold a secret); it is temporary.
func post(ctx context.Context, client *http.Client, timeout time.Duration, u string, header http.Header, body string,
	provider string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return 0, nil, Permanent(fmt.Errorf("notify: %s: request: %w", provider, unwrapURLError(err)))
	}
	req.Header = header
	return do(client, req, provider)
}

// get asks u within timeout, as post does.
func get(ctx context.Context, client *http.Client, timeout time.Duration, u string, header http.Header,
	provider string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, Permanent(fmt.Errorf("notify: %s: request: %w", provider, unwrapURLError(err)))
	}
	req.Header = header
	return do(client, req, provider)
}

func do(client *http.Client, req *http.Request, provider string) (int, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("notify: %s: %w", provider, unwrapURLError(err))
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil && resp.StatusCode/100 != 2 {
		return 0, nil, fmt.Errorf("notify: %s: reading the answer to HTTP %d: %w", provider, resp.StatusCode, err)
	}
	// A 2xx whose answer is cut short was still taken: sending again would
	// send twice.
	return resp.StatusCode, answer, nil
}

// unwrapURLError drops the URL net/http puts in its errors.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// longDigits are runs of digits long enough to be a phone number or a code.
var longDigits = regexp.MustCompile(`\+?[0-9][0-9 .-]{2,}[0-9]`)

// providerSays is a provider's own error message made fit for a log: no phone
// number or code (runs of 4 digits or more), no control characters, at most
// 200 bytes.
func providerSays(s string) string {
	s = longDigits.ReplaceAllStringFunc(s, func(d string) string {
		if len(strings.Map(keepDigit, d)) < 4 {
			return d
		}
		return "…"
	})
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return strings.TrimSpace(s)
}

func keepDigit(r rune) rune {
	if r >= '0' && r <= '9' {
		return r
	}
	return -1
}
