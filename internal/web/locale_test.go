package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twostep/twostep/internal/twostep"
)

// TestLocaleFromBrowser: an account that has chosen no language takes its
// browser's at setup, at the first password set from an invitation or a link,
// and at its first sign-in (pages or API); its e-mails and codes follow at
// once, before anyone opens the language setting, and so does the
// recovery-codes file. A language chosen stays whatever the browser says, and
// so does the one first adopted.
func TestLocaleFromBrowser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	locale := func(email string) string {
		t.Helper()
		a, err := e.db.AccountByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		return a.Locale
	}
	lastLocale := func(to, template string) string {
		t.Helper()
		e.deliver(t, false)
		for i := len(e.inbox) - 1; i >= 0; i-- {
			if m := e.inbox[i]; m.To == to && m.Template == template {
				return m.Locale
			}
		}
		t.Fatalf("no %s to %s", template, to)
		return ""
	}

	// Setup from a French browser: the owner is French, the picker says so,
	// and the first code goes in French.
	token, err := e.svc.SetupToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	owner := e.browser(t)
	owner.lang = "fr-FR,fr;q=0.9,en;q=0.5"
	want(t, owner.post("/setup/"+token, url.Values{"name": {orgName}, "email": {ownerEmail}, "password": {ownerPwd}}), 303,
		"/account/security?done=welcome")
	if got := locale(ownerEmail); got != "fr" {
		t.Errorf("owner's locale after setup from a French browser: %q", got)
	}
	owner.lang = "en"
	want(t, owner.get("/account/security"), 200, "", `<html lang="fr">`, `<option value="fr" lang="fr" selected>Français</option>`)
	a := owner.post("/account/security/email", url.Values{"address": {"owner@elsewhere.example"}})
	want(t, a, 303, a.location)
	if got := lastLocale("owner@elsewhere.example", "code_enrol"); got != "fr" {
		t.Errorf("the first code of a French owner went in %q", got)
	}

	// An invitation goes in the inviter's language, but the member's own
	// browser decides theirs when they set their password.
	const member = "taro@karbon.example"
	want(t, owner.post("/admin/members", url.Values{"email": {member}, "role": {"member"}}), 303, "/admin/members?done=member_invited")
	if got := lastLocale(member, "invitation"); got != "fr" {
		t.Errorf("invitation in %q, want the inviter's fr", got)
	}
	if got := locale(member); got != "" {
		t.Errorf("an invited account has the locale %q before its holder came", got)
	}
	link := e.mailed(t, member, "invitation")["link"]
	taro := e.browser(t)
	taro.lang = "ja,en-US;q=0.8"
	want(t, taro.post(strings.TrimPrefix(link, "http://127.0.0.1"), url.Values{"password": {joePwd}}), 303, "/account/security?done=password_signed_in")
	if got := locale(member); got != "ja" {
		t.Errorf("the invited member's locale after a Japanese browser set the password: %q", got)
	}
	if got := lastLocale(member, "password_set_by_link"); got != "ja" {
		t.Errorf("the notice of the password set went in %q", got)
	}
	// Adopted once: an English browser later changes nothing.
	taro.lang = "en-GB"
	want(t, taro.signIn(t, member, joePwd), 303, "/account/security")
	want(t, taro.get("/account/security"), 200, "", `<html lang="ja">`, "セキュリティ設定")
	if got := locale(member); got != "ja" {
		t.Errorf("an English browser changed the adopted locale to %q", got)
	}

	// The recovery codes of a Japanese member download in Japanese.
	a = taro.post("/account/security/totp", nil)
	want(t, a, 303, a.location)
	key := secret(t, taro.get(a.location).body)
	a = taro.post(a.location, url.Values{"code": {e.code(key)}})
	want(t, a, 200, "", "リカバリーコード")
	href := find(t, a.body, `href="data:text/plain;charset=utf-8;base64,([^"]+)"`)
	file, err := base64.StdEncoding.DecodeString(href)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(file), member+" の Twostep リカバリーコード\n\n") || !strings.Contains(string(file), "各コードは1回だけ使えます。") {
		t.Errorf("the recovery-codes file of a Japanese member:\n%s", file)
	}
	if got := lastLocale(member, "two_step_enabled"); got != "ja" {
		t.Errorf("two_step_enabled went in %q", got)
	}

	// An account an operator made, first signing in from a French browser
	// through the API; one that chose English keeps it.
	org, err := e.db.AccountByEmail(ctx, ownerEmail)
	if err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"dave@karbon.example", "eve@karbon.example"} {
		if _, _, err := e.svc.CreateAccount(ctx, twostep.NewAccount{Org: org.OrgID, Email: email, Password: joePwd}); err != nil {
			t.Fatal(err)
		}
	}
	eve := e.browser(t)
	want(t, eve.signIn(t, "eve@karbon.example", joePwd), 303, "/account/security") // no Accept-Language: nothing adopted
	if got := locale("eve@karbon.example"); got != "" {
		t.Errorf("a browser without Accept-Language gave the locale %q", got)
	}
	want(t, eve.post("/account/security/language", url.Values{"locale": {"en"}}), 303, "/account/security?done=language")
	for _, email := range []string{"dave@karbon.example", "eve@karbon.example"} {
		body, _ := json.Marshal(map[string]string{"email": email, "password": joePwd})
		req, err := http.NewRequest("POST", e.srv.URL+"/api/v1/sign-in", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept-Language", "fr-CA")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("API sign-in of %s: %d", email, res.StatusCode)
		}
	}
	if got := locale("dave@karbon.example"); got != "fr" {
		t.Errorf("first sign-in through the API from fr-CA: locale %q", got)
	}
	if got := locale("eve@karbon.example"); got != "en" {
		t.Errorf("a chosen English became %q", got)
	}
}
