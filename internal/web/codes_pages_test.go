package web

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// spaced writes a 6-digit code as apps and messages show it: "123 456".
func spaced(code string) string { return code[:3] + " " + code[3:] }

// TestCodeFieldsTakeSpacesAndDashes: a code typed or pasted as "123 456" or
// "123-456" is accepted at every code field, and no field carries a
// maxlength, pattern or required that would let the browser cut the code or
// answer in its own language instead of ours (OTP-07 codes, as people see them).
func TestCodeFieldsTakeSpacesAndDashes(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)

	// Setting up the app: the first code typed with a space.
	a := b.post("/account/security/totp", nil)
	page := a.location
	a = b.get(page)
	checkCodeInput(t, page, a.body)
	key := secret(t, a.body)
	a = b.post(page, url.Values{"code": {spaced(e.code(key))}})
	want(t, a, 200, "", "Your recovery codes")

	// Signing in: the code with a dash.
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	a = b.get("/sign-in/verify")
	checkCodeInput(t, "/sign-in/verify", a.body)
	e.clock.Add(30 * time.Second)
	c := e.code(key)
	want(t, b.post("/sign-in/verify", url.Values{"method": {"totp"}, "code": {c[:3] + "-" + c[3:]}}), 303, "/account/security")

	// Confirming who you are: the code with spaces around too.
	e.clock.Add(11 * time.Minute)
	a = b.get("/account/confirm?next=%2Faccount%2Fsecurity")
	checkCodeInput(t, "/account/confirm", a.body)
	want(t, b.post("/account/confirm", url.Values{"next": {"/account/security"}, "password": {ownerPwd}, "method": {"totp"},
		"code": {" " + spaced(e.code(key)) + " "}}), 303, "/account/security?done=confirmed")

	// An e-mail method: its code page, and a code pasted with a space.
	a = b.post("/account/security/email", url.Values{"address": {ownerEmail}})
	want(t, a, 303, a.location)
	a = b.get(a.location)
	checkCodeInput(t, "e-mail code", a.body)
	action := find(t, a.body, `<form method="post" action="(/account/security/email/fac_[a-z0-9]+)" class="stack">`)
	code := e.mailed(t, ownerEmail, "code_enrol")["code"]
	want(t, b.post(action, url.Values{"code": {spaced(code)}}), 303, "/account/security?done=added")

	// What is not a code gets our own message, in the reader's language.
	b.lang = "fr"
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	a = b.post("/sign-in/verify", url.Values{"method": {"totp"}, "code": {"12 34"}})
	want(t, a, 400, "", "les 6 chiffres du code")
	a = b.post("/sign-in/verify", url.Values{"method": {"totp"}, "code": {""}})
	want(t, a, 400, "", "les 6 chiffres du code")
}

// checkCodeInput fails unless the page's code field lets "123 456" through
// whole: no maxlength, no pattern, no required (the server says what is wrong,
// in the page's language).
func checkCodeInput(t *testing.T, name, body string) {
	t.Helper()
	input := regexp.MustCompile(`<input id="code"[^>]*>`).FindString(body)
	if input == "" {
		t.Fatalf("%s: no code field in:\n%s", name, body)
	}
	for _, attr := range []string{"maxlength", "pattern", "required"} {
		if strings.Contains(input, attr) {
			t.Errorf("%s: the code field has %s: %s", name, attr, input)
		}
	}
}

// TestFieldErrorSaidOnce: an error beside its field says what is wrong once:
// "Error: Enter the 6 digits…", not "Error: Code: enter…", nor the hint again;
// the field points to it (aria-invalid, aria-describedby) and takes the focus.
func TestFieldErrorSaidOnce(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	_, a := e.enrol(t, b)
	want(t, a, 200, "", "Your recovery codes")
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	tests := []struct {
		lang, method, code, says, hint string
	}{
		{"en", "totp", "12a456", "Error:</strong> Enter the 6 digits of the code, without letters.", ""},
		{"fr", "totp", "12a456", "Erreur :</strong> Saisissez les 6 chiffres du code, sans lettres.", ""},
		{"en", "recovery_code", "abc", "Error:</strong> This cannot be one of your recovery codes.", "16 letters and digits, such as abcd-efgh-ijkl-mnop."},
	}
	for _, tt := range tests {
		b.lang = tt.lang
		a := b.post("/sign-in/verify", url.Values{"method": {tt.method}, "code": {tt.code}})
		if a.status != 400 || !strings.Contains(a.body, tt.says) {
			t.Errorf("%s %s: status %d, want 400 and %q in:\n%s", tt.lang, tt.method, a.status, tt.says, a.body)
		}
		errText := find(t, a.body, `(?s)<p class="error field-error" id="code-error" role="alert">(.*?)</p>`)
		for _, twice := range []string{"Code:", "Code :", "Recovery code:", tt.hint} {
			if twice != "" && strings.Contains(errText, twice) {
				t.Errorf("%s %s: the error says %q again: %s", tt.lang, tt.method, twice, errText)
			}
		}
		if !regexp.MustCompile(`<input id="code"[^>]* autofocus aria-invalid="true" aria-describedby="[^"]*code-error"`).MatchString(a.body) {
			t.Errorf("%s %s: the code field does not point to its error:\n%s", tt.lang, tt.method, a.body)
		}
		if strings.Contains(a.body, `id="form-error"`) {
			t.Errorf("%s %s: the error is said at the top of the page too", tt.lang, tt.method)
		}
	}
}

// TestRecoveryCodeSignInWarns: after signing in with a recovery code the
// security page says so, how many are left, and where to look next (RC-05
// notifies by e-mail; this is the page's own word at that moment).
func TestRecoveryCodeSignInWarns(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	key, a := e.enrol(t, b)
	codes := recoveryCodes(t, a.body)
	for i, tt := range []struct{ lang, says string }{
		{"en", "You used a recovery code — 9 left. Check your methods or get new codes."},
		{"fr", "Vous avez utilisé un code de récupération — il en reste 8. Vérifiez vos méthodes ou obtenez de nouveaux codes."},
		{"ja", "リカバリーコードを使用しました。残りは7個です。 認証方法を確認する か、 新しいコードを作成してください。"},
	} {
		want(t, b.post("/account/security/language", url.Values{"locale": {tt.lang}}), 303, "/account/security?done=language")
		want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
		want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
		a = b.post("/sign-in/verify", url.Values{"method": {"recovery_code"}, "code": {codes[i]}})
		want(t, a, 303, "/account/security?done=recovery_code")
		a = b.get(a.location)
		notice := find(t, a.body, `(?s)<p class="notice" role="status" id="recovery-used">(.*?)</p>`)
		if got := regexp.MustCompile(`<[^>]+>`).ReplaceAllString(notice, ""); got != tt.says {
			t.Errorf("%s: the notice says %q, want %q", tt.lang, got, tt.says)
		}
		want(t, a, 200, "", `<a href="#methods-h">`, `<a href="#codes-h">`)
	}
	// Another method says nothing of the kind.
	want(t, b.post("/account/security/language", url.Values{"locale": {"en"}}), 303, "/account/security?done=language")
	want(t, b.post("/sign-out", nil), 303, "/sign-in?done=signed_out")
	want(t, b.signIn(t, ownerEmail, ownerPwd), 303, "/sign-in/verify")
	e.clock.Add(30 * time.Second)
	want(t, b.post("/sign-in/verify", url.Values{"method": {"totp"}, "code": {e.code(key)}}), 303, "/account/security")
	wantNot(t, b.get("/account/security"), "You used a recovery code")
}
