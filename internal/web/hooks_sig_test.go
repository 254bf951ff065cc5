package web

import (
	"net/url"
	"testing"
)

// TestTwilioSignatureVector: the example of Twilio's webhook security page
// (and its SDKs' tests): auth token 12345, this URL and these parameters sign
// as 0/KCTR6DLpKmkAf8muzZqo1nDgQ=. Issue 12, item 5.
func TestTwilioSignatureVector(t *testing.T) {
	form := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"}}
	if got := twilioSignature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form); got != "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" {
		t.Errorf("signature %q, want Twilio's 0/KCTR6DLpKmkAf8muzZqo1nDgQ=", got)
	}
}
