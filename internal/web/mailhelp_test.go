package web

import (
	"net/url"
	"testing"
)

// TestMailHelpNamesSender: "Didn't get the e-mail?" names the sender plainly;
// in dev mode without SMTP, where nothing is e-mailed, it points to the outbox
// instead of a sender and a spam folder that do not come into it.
func TestMailHelpNamesSender(t *testing.T) {
	for _, tt := range []struct {
		name    string
		outbox  bool
		says    []string
		notSays []string
	}{
		{"smtp", false, []string{"The e-mail comes from " + mailFrom + ". If your mailbox filters mail, add this address"}, []string{"development mode", "/dev/outbox"}},
		{"outbox", true, []string{"This server is in development mode: it does not send e-mail", `<a href="/dev/outbox">Open the outbox</a>`}, []string{mailFrom, "spam"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.MailOutbox = tt.outbox })
			b := e.setUp(t)
			a := b.post("/account/security/email", url.Values{"address": {ownerEmail}})
			a = b.get(a.location)
			want(t, a, 200, "", tt.says...)
			wantNot(t, a, tt.notSays...)
		})
	}
}
