package notify_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/notify"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestNotices: every notice exists in every language, says what happened and
// what to do if it was not the reader, and carries no code or secret (NT-03).
func TestNotices(t *testing.T) { // NT-03
	texts, err := notify.LoadTexts()
	if err != nil {
		t.Fatal(err)
	}
	notices := []string{"two_step_enabled", "two_step_disabled", "factor_added", "factor_removed",
		"recovery_codes_generated", "recovery_code_used", "legacy_clients_changed", "two_step_reset"}
	repudiation := map[string]string{"en": "If this was not you", "fr": "Si ce n'était pas vous"}
	data := map[string]string{"email": "joe@example.com", "issuer": "Cloud Legal", "method": "totp", "label": "Pixel", "left": "3", "allowed": "true"}
	for _, loc := range twostep.Locales {
		for _, n := range notices {
			subject, text, err := texts.Render(twostep.Message{Locale: loc, Template: n, Data: data})
			if err != nil {
				t.Errorf("%s/%s: %v", loc, n, err)
				continue
			}
			if subject == "" || !strings.Contains(text, repudiation[loc]) || !strings.Contains(text, "joe@example.com") || !strings.Contains(text, "Cloud Legal") {
				t.Errorf("%s/%s: subject %q, text:\n%s", loc, n, subject, text)
			}
		}
	}
	if _, _, err := texts.Render(twostep.Message{Locale: "en", Template: "no_such_notice"}); err == nil {
		t.Error("an unknown template rendered")
	}
	// An unknown locale falls back to English.
	if subject, _, _ := texts.Render(twostep.Message{Locale: "xx", Template: "two_step_enabled", Data: data}); subject != "Two-step verification is on" {
		t.Errorf("fallback subject %q", subject)
	}
}

func TestOutboxKeepsMessages(t *testing.T) {
	db := storetest.SQLite(t)
	texts, err := notify.LoadTexts()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	o := notify.NewOutbox(db, texts, func() time.Time { return at }, rand.Reader)
	m := twostep.Message{Channel: "email", To: "joe@example.com", Locale: "fr", Template: "two_step_enabled",
		Data: map[string]string{"email": "joe@example.com", "issuer": "Twostep"}}
	if err := o.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	msgs, err := db.DevMessages(context.Background(), 10)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("kept %d messages, %v", len(msgs), err)
	}
	got := msgs[0]
	if got.Channel != "email" || got.To != "joe@example.com" || got.Subject != "La validation en deux étapes est activée" || !got.At.Equal(at) {
		t.Errorf("kept %+v", got)
	}
}
