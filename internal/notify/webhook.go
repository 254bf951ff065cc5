package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WebhookSignatureHeader carries "sha256=" and the lowercase hex HMAC-SHA256
// of the request body, keyed with the shared secret.
const WebhookSignatureHeader = "X-Twostep-Signature"

// WebhookOptions configure a webhook transport.
type WebhookOptions struct {
	URL    string // http(s) URL the messages are posted to
	Secret string // key of the signature; never in an error or a log
	// HTTPClient, default a client of its own that does not follow redirects
	// (a 301 or 302 would turn the POST into a GET).
	HTTPClient *http.Client
	Timeout    time.Duration // bounds each request, answer included; default 10s
}

// Webhook is the SMS and voice Transport that hands each message to a
// gateway of the operator's own: a POST of the JSON
// {"channel":"sms"|"voice","to":"+E164","text":"…","locale":"fr"}, signed in
// WebhookSignatureHeader (see VerifyWebhookSignature).
type Webhook struct {
	url     string
	secret  string
	client  *http.Client
	timeout time.Duration
}

// NewWebhook checks o and returns a Webhook transport; it connects only when
// it delivers. Its errors never repeat the secret or the URL.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	u, err := parseHTTPURL("webhook URL", o.URL)
	if err != nil {
		return nil, err
	}
	if o.Secret == "" {
		return nil, errors.New("notify: webhook: no secret")
	}
	w := &Webhook{url: u.String(), secret: o.Secret, client: o.HTTPClient, timeout: o.Timeout}
	if w.client == nil {
		w.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if w.timeout <= 0 {
		w.timeout = defaultPhoneTimeout
	}
	return w, nil
}

// webhookBody is what the webhook posts, in this order.
type webhookBody struct {
	Channel string `json:"channel"`
	To      string `json:"to"`
	Text    string `json:"text"`
	Locale  string `json:"locale"`
}

// Deliver posts m (channel "sms" or "voice") and returns the "id" of a JSON
// answer, or "" when the answer has none.
//
// Errors: 408, 429, 5xx answers and network failures are temporary; other
// 4xx answers, a redirect, a channel other than sms or voice and a recipient
// not in E.164 form are Permanent, and 401, 403 and redirects are also
// marked Operator (a wrong secret or URL). No error holds the secret, the
// URL, the text or the answer's body.
func (w *Webhook) Deliver(ctx context.Context, m Rendered) (string, error) {
	if err := checkPhone("webhook", m); err != nil {
		return "", err
	}
	body, err := json.Marshal(webhookBody{Channel: m.Channel, To: m.To, Text: m.Text, Locale: m.Locale})
	if err != nil {
		return "", Permanent(fmt.Errorf("notify: webhook: %w", err))
	}
	header := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}
	header.Set(WebhookSignatureHeader, SignWebhook(body, w.secret))
	status, answer, err := post(ctx, w.client, w.timeout, w.url, header, string(body), "webhook")
	if err != nil {
		return "", err
	}
	switch {
	case status/100 == 2:
		var a struct {
			ID any `json:"id"`
		}
		_ = json.Unmarshal(answer, &a) // the answer need not be JSON
		switch id := a.ID.(type) {
		case string:
			return id, nil
		case float64:
			return strconv.FormatFloat(id, 'f', -1, 64), nil
		}
		return "", nil
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status/100 == 5:
		return "", fmt.Errorf("notify: webhook: HTTP %d", status)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "", Permanent(Operator(fmt.Errorf("notify: webhook: HTTP %d: check TWOSTEP_SMS_WEBHOOK_SECRET", status)))
	case status/100 == 3:
		return "", Permanent(Operator(fmt.Errorf("notify: webhook: HTTP %d: the URL redirects; set TWOSTEP_SMS_WEBHOOK_URL to where it leads", status)))
	default:
		return "", Permanent(fmt.Errorf("notify: webhook: HTTP %d", status))
	}
}

// SignWebhook is the value of WebhookSignatureHeader for body: "sha256=" and
// the lowercase hex HMAC-SHA256 of body keyed with secret.
func SignWebhook(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifyWebhookSignature reports, in constant time, whether header (the value
// of WebhookSignatureHeader) signs exactly body with secret. An empty secret
// verifies nothing. For receivers of the webhook, and tests.
func VerifyWebhookSignature(body []byte, header, secret string) bool {
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || secret == "" {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}
