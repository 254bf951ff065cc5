package notify_test

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/twostep/twostep/internal/notify"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// Templates that deliver a code, a link, or only tell what happened.
var (
	codeTemplates = []string{"code_sign_in", "code_enrol", "code_confirm_identity", "code_email_change", "code_verify"}
	notices       = []string{"two_step_enabled", "two_step_disabled", "factor_added", "factor_removed",
		"recovery_codes_generated", "recovery_code_used", "legacy_clients_changed", "two_step_reset",
		"password_changed", "email_changed", "password_reset_done", "totp_replayed", "second_step_locked",
		"password_set_by_link", "email_taken", "device_remembered", "app_password_created"}
	// Messages from an organisation to its members.
	orgMessages = []string{"invitation", "two_step_required"}
)

// tenMinutes is how each language says how long a code lasts.
var tenMinutes = map[string]string{"en": "10 minutes", "fr": "10 minutes", "ja": "10分"}

// loadTexts loads the messages of a server whose TWOSTEP_PRODUCT_NAME is
// "Cloud Legal" (the Verify API's messages name the Verify service instead:
// the tests give it as "issuer", the same name).
func loadTexts(t testing.TB) *notify.Texts {
	t.Helper()
	texts, err := notify.LoadTexts()
	if err != nil {
		t.Fatal(err)
	}
	return texts.WithProduct("Cloud Legal")
}

// TestMessagesNameTheProduct: the product's name (TWOSTEP_PRODUCT_NAME) is in
// every e-mail's subject and text, and starts every SMS and call; without one,
// "Twostep".
func TestMessagesNameTheProduct(t *testing.T) {
	plain, err := notify.LoadTexts()
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]string{"email": "joe@example.com", "new_email": "joe@new.example", "issuer": "Twostep",
		"method": "totp", "label": "Pixel", "left": "3", "allowed": "false",
		"code": "493817", "minutes": "10", "link": "https://id.example.com/reset-password/tok", "host": "auth.example.com",
		"org": "Cloud Legal", "until": "2026-12-01", "inviter": "owner@example.com", "days": "7"}
	all := append(append(append([]string{"password_reset"}, codeTemplates...), notices...), orgMessages...)
	for _, tc := range []struct {
		texts   *notify.Texts
		product string
	}{{plain, "Twostep"}, {plain.WithProduct("Acme Files"), "Acme Files"}} {
		for _, loc := range twostep.Locales {
			for _, name := range all {
				if name == "code_verify" {
					continue // named by the Verify service, TestCodeMessages
				}
				r, err := tc.texts.Render(twostep.Message{Locale: loc, Template: name, Data: data})
				if err != nil {
					t.Fatalf("%s/%s: %v", loc, name, err)
				}
				if !strings.HasPrefix(r.Subject, tc.product) || !strings.Contains(r.Text, tc.product) {
					t.Errorf("%s/%s with product %q: subject %q, text:\n%s", loc, name, tc.product, r.Subject, r.Text)
				}
			}
			for _, name := range phoneTemplates[:3] {
				for _, ch := range []string{"sms", "voice"} {
					r, err := tc.texts.Render(twostep.Message{Channel: ch, Locale: loc, Template: name, Data: phoneData("493817")})
					if err != nil || !strings.Contains(r.Text[:min(len(r.Text), 40)], tc.product) {
						t.Errorf("%s/%s %s with product %q does not say it first: %v\n%s", loc, name, ch, tc.product, err, r.Text)
					}
				}
			}
		}
	}
}

// TestCodeMessages: a code message says who sends it, the code once, how long
// it lasts and what to do if the reader did not ask; the HTML part says the
// same with the code emphasised.
func TestCodeMessages(t *testing.T) {
	texts := loadTexts(t)
	data := map[string]string{"code": "493817", "minutes": "10", "issuer": "Cloud Legal", "email": "joe@example.com"}
	didNotAsk := map[string]string{"en": "If you did not", "fr": "Si vous n'avez", "ja": "お心当たりがない場合"}
	for _, loc := range twostep.Locales {
		for _, name := range codeTemplates {
			r, err := texts.Render(twostep.Message{Channel: "email", To: "joe@example.com", Locale: loc, Template: name, Data: data})
			if err != nil {
				t.Errorf("%s/%s: %v", loc, name, err)
				continue
			}
			if r.Subject == "" || strings.Contains(r.Subject, "493817") || strings.Count(r.Text, "493817") != 1 ||
				!strings.Contains(r.Text, "Cloud Legal") || !strings.Contains(r.Text, tenMinutes[loc]) ||
				!strings.Contains(r.Text, "joe@example.com") || !strings.Contains(r.Text, didNotAsk[loc]) {
				t.Errorf("%s/%s: subject %q, text:\n%s", loc, name, r.Subject, r.Text)
			}
			if !strings.Contains(r.HTML, "<strong>493817</strong>") || strings.Count(r.HTML, "493817") != 1 {
				t.Errorf("%s/%s: html:\n%s", loc, name, r.HTML)
			}
		}
	}
}

// TestEnrolSubject: the code that confirms a new address for codes says so in
// words a reader expects, not "your code to turn on sign-in codes".
func TestEnrolSubject(t *testing.T) {
	texts := loadTexts(t)
	want := map[string]string{"en": "Cloud Legal: Confirm this address for two-step verification",
		"fr": "Cloud Legal : Confirmez cette adresse pour la validation en deux étapes", "ja": "Cloud Legal：二段階認証に使うメールアドレスの確認"}
	for _, loc := range twostep.Locales {
		r, err := texts.Render(twostep.Message{Locale: loc, Template: "code_enrol",
			Data: map[string]string{"code": "493817", "minutes": "10", "issuer": "Cloud Legal", "email": "joe@example.com"}})
		if err != nil || r.Subject != want[loc] {
			t.Errorf("%s: subject %q (%v), want %q", loc, r.Subject, err, want[loc])
		}
	}
}

func TestPasswordResetMessage(t *testing.T) {
	texts := loadTexts(t)
	link := "https://id.example.com/reset-password/tok_Zq8"
	data := map[string]string{"link": link, "minutes": "60", "issuer": "Cloud Legal", "email": "joe@example.com"}
	for _, loc := range twostep.Locales {
		r, err := texts.Render(twostep.Message{Locale: loc, Template: "password_reset", Data: data})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(r.Text, link) != 1 || !strings.Contains(r.Text, strings.Replace(tenMinutes[loc], "10", "60", 1)) || !strings.Contains(r.Text, "Cloud Legal") {
			t.Errorf("%s: text:\n%s", loc, r.Text)
		}
		if !strings.Contains(r.HTML, `<a href="`+link+`">`) {
			t.Errorf("%s: html:\n%s", loc, r.HTML)
		}
	}
}

// TestNotices: every notice exists in every language, says what happened and
// what to do if it was not the reader, and carries no code or secret (NT-03).
func TestNotices(t *testing.T) { // NT-03
	texts := loadTexts(t)
	repudiation := map[string]string{"en": "If this was not you", "fr": "Si ce n'était pas vous", "ja": "お心当たりがない場合"}
	// An administrator's reset was not the reader: it says what to do if they
	// did not ask for it instead (issue 20).
	adminRepudiation := map[string]string{"en": "If you did not ask your administrator for this",
		"fr": "Si vous n'avez rien demandé à votre administrateur", "ja": "管理者に依頼していない場合"}
	security := map[string]string{"en": "Your security settings: https://id.example.com/account/security",
		"fr": "Vos paramètres de sécurité : https://id.example.com/account/security",
		"ja": "セキュリティ設定：https://id.example.com/account/security"}
	// The data holds a code and a link that no notice may show, should a caller
	// ever pass them by mistake.
	data := map[string]string{"email": "joe@example.com", "new_email": "joe@new.example", "issuer": "Cloud Legal",
		"method": "totp", "label": "Pixel", "left": "3", "allowed": "true",
		"code": "493817", "link": "https://id.example.com/reset-password/tok_Zq8",
		"security_url": "https://id.example.com/account/security"}
	for _, loc := range twostep.Locales {
		for _, n := range notices {
			r, err := texts.Render(twostep.Message{Locale: loc, Template: n, Data: data})
			if err != nil {
				t.Errorf("%s/%s: %v", loc, n, err)
				continue
			}
			all := r.Subject + r.Text + r.HTML
			rep := repudiation[loc]
			if n == "two_step_reset" {
				rep = adminRepudiation[loc]
				if strings.Contains(r.Text, repudiation[loc]) {
					t.Errorf("%s/%s says %q to someone an administrator reset", loc, n, repudiation[loc])
				}
			}
			if !strings.Contains(r.Text, security[loc]) {
				t.Errorf("%s/%s does not link to the security page:\n%s", loc, n, r.Text)
			}
			if r.Subject == "" || !strings.Contains(r.Text, rep) || !strings.Contains(r.Text, "joe@example.com") ||
				!strings.Contains(r.Text, "Cloud Legal") || strings.Contains(all, "493817") || strings.Contains(all, "tok_Zq8") {
				t.Errorf("%s/%s: subject %q, text:\n%s", loc, n, r.Subject, r.Text)
			}
		}
	}
	r, err := texts.Render(twostep.Message{Locale: "fr", Template: "email_changed", Data: data})
	if err != nil || !strings.Contains(r.Text, "joe@new.example") {
		t.Errorf("email_changed does not name the new address: %v\n%s", err, r.Text)
	}
}

func TestRender(t *testing.T) {
	texts := loadTexts(t).WithProduct("Smith & <Sons>")
	data := map[string]string{"email": "joe@example.com", "issuer": "Twostep"}
	if _, err := texts.Render(twostep.Message{Locale: "en", Template: "no_such_notice"}); err == nil {
		t.Error("an unknown template rendered")
	}
	if _, err := texts.Render(twostep.Message{Locale: "en", Template: "code_sign_in", Data: data}); err == nil {
		t.Error("a code message rendered without its code")
	}
	// An unknown locale falls back to English.
	r, err := texts.Render(twostep.Message{Channel: "email", To: "joe@example.com", Locale: "xx", Template: "two_step_enabled", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Smith & <Sons>: Two-step verification is on" || r.Channel != "email" || r.To != "joe@example.com" {
		t.Errorf("rendered %+v", r)
	}
	// The HTML part is escaped text, paragraph by paragraph.
	if !strings.Contains(r.HTML, "Smith &amp; &lt;Sons&gt;") || strings.Contains(r.HTML, "<Sons>") || strings.Count(r.HTML, "<p>") < 3 {
		t.Errorf("html:\n%s", r.HTML)
	}
}

// TestEveryTemplateInEveryLocale: the languages have the same templates,
// and all of them render from the data the domain sends.
func TestEveryTemplateInEveryLocale(t *testing.T) {
	texts := loadTexts(t)
	data := map[string]string{"email": "joe@example.com", "new_email": "joe@new.example", "issuer": "Twostep",
		"method": "totp", "label": "Pixel", "left": "3", "allowed": "false",
		"code": "493817", "minutes": "10", "link": "https://id.example.com/reset-password/tok",
		"org": "Cloud Legal", "until": "2026-12-01", "inviter": "owner@example.com", "days": "7"}
	all := append(append(append([]string{"password_reset"}, codeTemplates...), notices...), orgMessages...)
	for _, loc := range twostep.Locales {
		for _, name := range all {
			r, err := texts.Render(twostep.Message{Locale: loc, Template: name, Data: data})
			if err != nil || r.Subject == "" || r.Text == "" || r.HTML == "" {
				t.Errorf("%s/%s: %v %+v", loc, name, err, r)
			}
		}
		// Every template is in a list above, so the checks of its kind apply.
		entries, err := os.ReadDir(filepath.Join("messages", loc))
		if err != nil {
			t.Fatal(err)
		}
		var files []string
		for _, e := range entries {
			files = append(files, strings.TrimSuffix(e.Name(), ".tmpl"))
		}
		if diff := cmp.Diff(all, files, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("%s: templates (-tested +present):\n%s", loc, diff)
		}
	}
}

func TestDevOutboxKeepsMessages(t *testing.T) {
	db := storetest.SQLite(t)
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	o := notify.NewDevOutbox(db, func() time.Time { return at }, rand.Reader)
	r := notify.Rendered{Channel: "sms", To: "+33612345678", Locale: "fr", Subject: "Code", Text: "493817"}
	id, err := o.Deliver(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := db.DevMessages(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []*twostep.DevMessage{{ID: id, Channel: "sms", To: "+33612345678", Subject: "Code", Text: "493817", At: at}}
	if diff := cmp.Diff(want, msgs, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
}

// TestMessageDates: a date in a message reads as the reader writes it, not as
// ISO 8601.
func TestMessageDates(t *testing.T) {
	texts := loadTexts(t)
	for _, tc := range []struct{ loc, template, until, want string }{
		{"en", "device_remembered", "2026-03-01", "until 1 March 2026."},
		{"fr", "device_remembered", "2026-03-01", "jusqu'au 1er mars 2026."},
		{"fr", "device_remembered", "2026-12-24", "jusqu'au 24 décembre 2026."},
		{"en", "two_step_required", "2026-12-24", "until 24 December 2026;"},
		{"fr", "two_step_required", "2026-08-02", "jusqu'au 2 août 2026 ;"},
	} {
		data := map[string]string{"email": "joe@example.com", "org": "Cloud Legal", "until": tc.until, "days": "30",
			"browser": "Firefox", "platform": "Linux", "ip": "192.0.2.1"}
		r, err := texts.Render(twostep.Message{Locale: tc.loc, Template: tc.template, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Text, tc.want) || strings.Contains(r.Text, tc.until) {
			t.Errorf("%s/%s: want %q, text:\n%s", tc.loc, tc.template, tc.want, r.Text)
		}
	}
}

// TestTwoStepEnabledSaysTheMethod: the "two-step verification is on" e-mail
// says what signing in asks for from now on, and what the recovery codes
// stand in for: a code and the phone for an app, the key for a passkey or
// security key, in every language.
func TestTwoStepEnabledSaysTheMethod(t *testing.T) {
	texts := loadTexts(t)
	want := map[string]map[string][]string{
		"en": {"totp": {"asks for a code as well", "lose your phone"}, "webauthn": {"asks for your passkey or security key as well", "lose your passkey or security key"}},
		"fr": {"totp": {"demande un code en plus", "perdez votre téléphone"}, "webauthn": {"demande votre clé d’accès ou votre clé de sécurité en plus", "perdez votre clé d’accès"}},
		"ja": {"totp": {"パスワードに加えてコードが求められます", "スマートフォンをなくした"}, "webauthn": {"パスワードに加えてパスキーまたはセキュリティキーが求められます", "パスキーやセキュリティキーを使えなくなった"}},
	}
	for _, loc := range twostep.Locales {
		for method, phrases := range want[loc] {
			r, err := texts.Render(twostep.Message{Locale: loc, Template: "two_step_enabled", Data: map[string]string{"email": "joe@example.com", "method": method}})
			if err != nil {
				t.Fatalf("%s/%s: %v", loc, method, err)
			}
			for _, p := range phrases {
				if !strings.Contains(r.Text, p) {
					t.Errorf("%s, %s: the text lacks %q:\n%s", loc, method, p, r.Text)
				}
			}
		}
		if len(want[loc]) == 0 {
			t.Errorf("no expectation for %s", loc)
		}
	}
}
