package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// sending marks err as the answer to a request for a code, so that a throttle
// reads as the cap on codes sent rather than on tries; phone says the code was
// to go by text message or call, whose caps and provider are not e-mail's.
type sending struct {
	error
	phone bool
}

func (e sending) Unwrap() error { return e.error }

// sendFailed marks err (if any) as the answer to a request for a code by m.
func sendFailed(err error, m twostep.Method) error {
	if err == nil {
		return nil
	}
	return sending{err, isPhone(m)}
}

func isPhone(m twostep.Method) bool { return m == twostep.MethodSMS || m == twostep.MethodVoice }

// delivers reports whether Twostep sends the codes of m (rather than an app
// making them or the person having printed them).
func delivers(m twostep.Method) bool {
	return m == twostep.MethodEmail || m == twostep.MethodSMS || m == twostep.MethodVoice
}

// sendError puts a refused request for a code on p as a page-level error: too
// soon (with the seconds left), the cap on codes sent (with when to try
// again), or a delivery the provider refused. Anything else goes to formError.
// It returns the status to answer with, or 0.
func (s *Server) sendError(w http.ResponseWriter, p *page, err error) int {
	f := describe(err)
	switch f.Code {
	case "resend_too_soon", "too_many_attempts", "delivery_failed":
		if f.Code == "delivery_failed" && f.Message == "error.delivery_failed" {
			f.Message = "send.failed" // a code was asked for: the e-mail's words
		}
		s.showFailure(w, p, f)
		p.Field = ""
		return f.Status
	}
	return s.formError(w, p, err)
}

// sentBefore is when the code that err says was sent moments ago went out, so
// that the page counts down the same wait: now less the cooldown already run.
func (s *Server) sentBefore(err error) time.Time {
	wait := min(twostep.RetryAfter(err), twostep.ResendCooldown)
	return s.clock().Add(wait - twostep.ResendCooldown)
}

// sentParam is the ?sent= a page gets after a code went out: the Unix time of
// the send, from which it counts down the resend cooldown. It is only ever
// used to say "we sent a code" and to time a button, never trusted for more.
func sentParam(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func parseSent(v string) time.Time {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return timeZero
	}
	return time.Unix(n, 0)
}

// resendWait is how many whole seconds are left of the cooldown that started at sent.
func (s *Server) resendWait(sent time.Time) int {
	if sent.IsZero() {
		return 0
	}
	left := min(sent.Add(twostep.ResendCooldown).Sub(s.clock()), twostep.ResendCooldown)
	if left <= 0 {
		return 0
	}
	return int((left + time.Second - 1) / time.Second)
}

type hiddenField struct{ Name, Value string }

// resendForm is a button that asks for a (new) code. While Wait seconds of the
// cooldown remain, the page says so; app.js also disables the button and counts
// down, with One and Other (where {n} is the number of seconds).
type resendForm struct {
	ID       string
	Action   string
	Fields   []hiddenField
	Label    string
	Primary  bool
	Wait     int
	WaitText string
	One      string
	Other    string
}

// resend builds a resendForm; kv are hidden field names and values.
func (p *page) resend(id, action, labelID string, wait int, kv ...string) *resendForm {
	f := &resendForm{ID: id, Action: action, Label: p.T(labelID), Wait: wait}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Fields = append(f.Fields, hiddenField{kv[i], kv[i+1]})
	}
	if wait > 0 {
		f.WaitText = p.T("send.wait", "Count", wait, "N", wait)
		f.One = p.T("send.wait", "Count", 1, "N", "{n}")
		f.Other = p.T("send.wait", "Count", 2, "N", "{n}")
	}
	return f
}

// mailHelp is what the "Didn't get the e-mail?" list needs.
type mailHelp struct {
	To   string // the address shown, masked or not
	From string // the sender to allow; "" when not configured
	// Outbox: e-mail is not sent but kept on the dev outbox page, so the
	// mailbox, its spam folder and the sender do not come into it.
	Outbox bool
}

// mailHelp is the "Didn't get the e-mail?" list for a code sent to to.
func (s *Server) mailHelp(to string) *mailHelp {
	return &mailHelp{To: to, From: s.mailFrom, Outbox: s.mailOutbox}
}

// phoneHelp is what the "Didn't get the text message?" list needs.
type phoneHelp struct {
	Voice bool   // the code comes by call
	To    string // the number, masked (or in full to the person who just typed it)
	Other bool   // the page offers the number's other channel
}

// sendLabel is the button that asks for a code by m: the first, or a new one.
func (p *page) sendLabel(m twostep.Method, again bool) string {
	switch {
	case m == twostep.MethodSMS && !again:
		return "send.sms_first"
	case m == twostep.MethodVoice && !again:
		return "send.voice_first"
	case m == twostep.MethodVoice:
		return "send.voice_again"
	case again:
		return "send.again"
	}
	return "send.first"
}

// sentHint says where the code went (sent) or can go, for a method that delivers.
func (p *page) sentHint(m twostep.Method, to string, sent bool) string {
	switch {
	case m == twostep.MethodSMS && sent:
		return p.T("verify.hint.sms_sent", "To", to)
	case m == twostep.MethodSMS:
		return p.T("verify.hint.sms_send", "To", to)
	case m == twostep.MethodVoice && sent:
		return p.T("verify.hint.voice_sent", "To", to)
	case m == twostep.MethodVoice:
		return p.T("verify.hint.voice_send", "To", to)
	case sent:
		return p.T("verify.hint.sent", "To", to)
	}
	return p.T("verify.hint.send", "To", to)
}
