package web

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// TwilioStatusPath is where Twilio posts the status of the SMS it took
// (StatusCallback): the base URL followed by this path.
const TwilioStatusPath = "/hooks/twilio/status"

// TwilioStatusURL is the status callback URL to give Twilio for base: the one
// whose signature twilioStatus checks.
func TwilioStatusURL(base *url.URL) string {
	return strings.TrimSuffix(base.String(), "/") + TwilioStatusPath
}

// twilioSignature is Twilio's X-Twilio-Signature of a form posted to
// callbackURL: the base64 HMAC-SHA1, keyed with the auth token, of the URL
// followed by each parameter's name and value, names sorted.
func twilioSignature(authToken, callbackURL string, form url.Values) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(callbackURL))
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range form {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, v := range form[k] {
			mac.Write([]byte(k))
			mac.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// twilioStatus takes Twilio's report on an SMS it had accepted. A request
// whose signature does not verify against the configured base URL (never the
// Host header) gets 403 and changes nothing. "failed" and "undelivered" (the
// handset unreachable, blocked, unknown: 30003–30008) fail the message for
// good through the domain; other statuses need nothing. Twilio gets 204
// either way, also for a message it does not know us to have: it retries
// only on errors.
func (s *Server) twilioStatus(w http.ResponseWriter, r *http.Request) {
	if s.twilioToken == "" {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	want := twilioSignature(s.twilioToken, TwilioStatusURL(s.baseURL), r.PostForm)
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Twilio-Signature"))) {
		s.log.Warn("twilio status callback with a bad signature", "ip", s.clientIP(r))
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	switch r.PostForm.Get("MessageStatus") {
	case "failed", "undelivered":
		reason := "twilio: the message was " + r.PostForm.Get("MessageStatus") + " after Twilio took it"
		if code := r.PostForm.Get("ErrorCode"); code != "" && len(code) <= 6 && strings.Trim(code, "0123456789") == "" {
			reason += " (error " + code + ")"
		}
		if err := s.svc.DeliveryFailed(r.Context(), r.PostForm.Get("MessageSid"), reason); err != nil {
			s.apiError(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
