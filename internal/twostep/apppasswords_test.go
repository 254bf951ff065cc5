package twostep_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// appPasswordFixture: an organisation whose minimum app version is 3.1.0 and
// joe, with an authenticator app; it returns joe, a function that signs him
// in proving the second step (a fresh confirmation), and the owner's caller.
func appPasswordFixture(t *testing.T, f *fixture) (*twostep.Account, func() *twostep.Caller, *twostep.Caller) {
	t.Helper()
	f.account("owner@example.com")
	owner := f.caller(f.signIn("owner@example.com").SessionToken)
	f.policy(owner, twostep.Policy{TwoStep: twostep.PolicyOptional, MinClientVersion: "3.1.0", AllowAppPasswords: true})
	joe := f.account("joe@example.com")
	secret, _ := f.enrol("joe@example.com")
	fresh := func() *twostep.Caller {
		t.Helper()
		f.clock.Advance(30 * time.Second) // a TOTP step not used before
		res, err := f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, f.code(secret))
		if err != nil {
			t.Fatal(err)
		}
		return f.caller(res.SessionToken)
	}
	return joe, fresh, owner
}

func oldClient(f *fixture, email, pw, version string) (*twostep.SignInResult, error) {
	return f.svc.SignIn(context.Background(), twostep.SignInRequest{Email: email, Password: pw, ClientVersion: version,
		IP: "192.0.2.9", UserAgent: "CLIP STUDIO/2.0"})
}

// TestAppPasswords: an app password is made after a fresh confirmation,
// shown once in groups, with a notice and an audit event; an old client
// (below the minimum version) signs in with the e-mail and it, and gets an
// exempt session marked with it (amr pwd, audited), which reaches no security
// setting and yields no OpenID Connect token; a current client, a client
// that declares no version, the sign-in pages, and an organisation that
// stops allowing them get invalid credentials (API.md §11; SU-01, FL-04).
func TestAppPasswords(t *testing.T) { // SU-01, FL-04, OP-04
	storetestBackends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		joe, fresh, owner := appPasswordFixture(t, f)

		stale := fresh()
		f.clock.Advance(11 * time.Minute) // the confirmation window has passed
		if _, _, err := f.svc.CreateAppPassword(ctx, stale, "CLIP STUDIO 2"); !errors.Is(err, twostep.ErrConfirmIdentity) {
			t.Errorf("without a fresh confirmation: %v, want ErrConfirmIdentity", err)
		}
		joeAgain := fresh()
		if _, _, err := f.svc.CreateAppPassword(ctx, joeAgain, " "); !isInvalid(err, "label") {
			t.Errorf("blank label: %v, want invalid label", err)
		}
		f.outbox()
		before := len(f.sent)
		p, pw, err := f.svc.CreateAppPassword(ctx, joeAgain, "CLIP STUDIO 2")
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^[a-z2-9]{4}(-[a-z2-9]{4}){5}$`).MatchString(pw) {
			t.Errorf("app password %q, want 24 characters in groups of four", pw)
		}
		f.outbox()
		var sent []string
		for _, m := range f.sent[before:] {
			sent = append(sent, m.Template)
			if strings.Contains(m.Data["label"]+m.Data["email"], pw) {
				t.Error("the notice holds the app password")
			}
		}
		if diff := cmp.Diff([]string{"app_password_created"}, sent); diff != "" {
			t.Errorf("messages (-want +got):\n%s", diff)
		}
		if evs := f.events(joe.ID, "app_password.created"); len(evs) != 1 || evs[0].Detail["label"] != "CLIP STUDIO 2" {
			t.Errorf("app_password.created events: %v", evs)
		}
		ps, err := f.svc.AppPasswordsOf(ctx, joeAgain)
		if err != nil || len(ps) != 1 || ps[0].ID != p.ID || !ps[0].LastUsedAt.IsZero() {
			t.Fatalf("list: %v %+v", err, ps)
		}

		// The old-client flow, as typed: upper case, spaces instead of dashes.
		res, err := oldClient(f, "joe@example.com", strings.ToUpper(strings.ReplaceAll(pw, "-", " ")), "2.0.0")
		if err != nil || res.Status != twostep.StatusSignedIn {
			t.Fatalf("old client with the app password: %v %+v", err, res)
		}
		sess := res.Session
		if diff := cmp.Diff([]string{"pwd"}, sess.AMR); diff != "" || sess.SecondStep != twostep.SecondStepExempt || sess.AppPasswordID != p.ID {
			t.Errorf("session amr %v, second step %s, app password %q; want [pwd], exempt, %s", sess.AMR, sess.SecondStep, sess.AppPasswordID, p.ID)
		}
		if d, _ := twostep.DetailOf(f.events(joe.ID, "sign_in.succeeded")[0]); d.(*twostep.SignInSucceeded).AppPassword != p.ID {
			t.Errorf("sign-in audit %+v, want the app password's id", d)
		}
		if ps, _ := f.svc.AppPasswordsOf(ctx, joeAgain); ps[0].LastUsedAt.IsZero() || ps[0].LastIP != "192.0.2.9" {
			t.Errorf("last use not recorded: %+v", ps[0])
		}

		// That session reaches no security setting.
		app := f.caller(res.SessionToken)
		checks := map[string]error{}
		_, checks["add a method"] = f.svc.AddFactor(ctx, app, twostep.FactorRequest{Method: twostep.MethodTOTP})
		_, _, checks["confirm identity"] = f.svc.ConfirmIdentity(ctx, app, twostep.ConfirmRequest{Password: password, Method: twostep.MethodTOTP, Code: "123456"})
		_, checks["recovery codes"] = f.svc.RecoveryCodes(ctx, app)
		checks["change password"] = f.svc.ChangePassword(ctx, app, password, "a new password for joe")
		checks["end other sessions"] = f.svc.EndOtherSessions(ctx, app)
		_, checks["list devices"] = f.svc.MemberDevices(ctx, app)
		_, checks["list app passwords"] = f.svc.AppPasswordsOf(ctx, app)
		_, _, checks["make an app password"] = f.svc.CreateAppPassword(ctx, app, "another")
		checks["revoke an app password"] = f.svc.RevokeAppPassword(ctx, app, p.ID)
		_, checks["list factors"] = f.svc.Factors(ctx, app)
		for what, err := range checks {
			if !errors.Is(err, twostep.ErrForbidden) {
				t.Errorf("%s from an app-password session: %v, want ErrForbidden", what, err)
			}
		}

		// Nor an OpenID Connect token: not reused, not completed (OP-04).
		cl, _, err := f.svc.CreateOIDCClient(ctx, nil, twostep.NewOIDCClient{Name: "Notes", RedirectURIs: []string{"https://notes.example/cb"}, Org: f.org})
		if err != nil {
			t.Fatal(err)
		}
		ar, err := f.svc.CreateAuthRequest(ctx, twostep.NewAuthRequest{ClientID: cl.ID, RedirectURI: "https://notes.example/cb", ResponseType: "code", Scopes: []string{"openid"}})
		if err != nil {
			t.Fatal(err)
		}
		if step, _ := f.svc.ResumeAuthRequest(ctx, ar.ID, res.SessionToken, "192.0.2.9", "x"); step != nil && step.Callback {
			t.Error("an app-password session was reused for a token")
		}
		if err := f.svc.CompleteAuthRequest(ctx, ar.ID, res.SessionToken, "192.0.2.9", "x"); err != nil {
			t.Fatal(err)
		}
		if ar, _ := f.svc.AuthRequest(ctx, ar.ID); ar.Done() || ar.Error != twostep.AuthErrAccessDenied {
			t.Errorf("an app-password session completed a request: %+v", ar)
		}

		// Only an old client: a current one, one that declares nothing, and
		// the account password's own rules stay as they were.
		for _, version := range []string{"3.1.0", "4.0", ""} {
			if _, err := oldClient(f, "joe@example.com", pw, version); !errors.Is(err, twostep.ErrInvalidCredentials) {
				t.Errorf("client %q with the app password: %v, want ErrInvalidCredentials", version, err)
			}
		}
		var up *twostep.UpgradeError
		if _, err := oldClient(f, "joe@example.com", password, "2.0.0"); !errors.As(err, &up) {
			t.Errorf("old client with the account password: %v, want an UpgradeError", err)
		}
		if _, err := oldClient(f, "owner@example.com", pw, "2.0.0"); !errors.Is(err, twostep.ErrInvalidCredentials) {
			t.Errorf("another account's e-mail with joe's app password: %v, want ErrInvalidCredentials", err)
		}

		// The organisation stops allowing them: no sign-in, no new one.
		owner = f.caller(f.signIn("owner@example.com").SessionToken)
		f.policy(owner, twostep.Policy{TwoStep: twostep.PolicyOptional, MinClientVersion: "3.1.0", AllowAppPasswords: false})
		if _, err := oldClient(f, "joe@example.com", pw, "2.0.0"); !errors.Is(err, twostep.ErrInvalidCredentials) {
			t.Errorf("app passwords not allowed: %v, want ErrInvalidCredentials", err)
		}
		if _, _, err := f.svc.CreateAppPassword(ctx, joeAgain, "x"); !errors.Is(err, twostep.ErrForbidden) {
			t.Errorf("making one when not allowed: %v, want ErrForbidden", err)
		}
	})
}

// TestAppPasswordRevokedAtOnce: revoking ends the sessions made with the app
// password and refuses it from then on: 20 parallel sign-ins with it all get
// invalid credentials, on both backends.
func TestAppPasswordRevokedAtOnce(t *testing.T) {
	storetestBackends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		joe, fresh, _ := appPasswordFixture(t, f)
		c := fresh()
		p, pw, err := f.svc.CreateAppPassword(ctx, c, "old app")
		if err != nil {
			t.Fatal(err)
		}
		res, err := oldClient(f, "joe@example.com", pw, "2.0.0")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RevokeAppPassword(ctx, c, p.ID); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RevokeAppPassword(ctx, c, p.ID); !errors.Is(err, twostep.ErrNotFound) {
			t.Errorf("revoking twice: %v, want ErrNotFound", err)
		}
		if _, err := f.svc.Authenticate(ctx, res.SessionToken, "192.0.2.9", "x"); !errors.Is(err, twostep.ErrUnauthenticated) {
			t.Errorf("the app password's session after revoking: %v, want ErrUnauthenticated", err)
		}
		if evs := f.events(joe.ID, "app_password.revoked"); len(evs) != 1 {
			t.Errorf("app_password.revoked events: %d, want 1", len(evs))
		}
		var wg sync.WaitGroup
		errs := make([]error, 20)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = oldClient(f, "joe@example.com", pw, "2.0.0")
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, twostep.ErrInvalidCredentials) && !errors.Is(err, twostep.ErrThrottled) {
				t.Errorf("use %d of a revoked app password: %v, want refused", i+1, err)
			}
		}
	})
}

// TestAppPasswordsEndWithThePassword: changing the password revokes every
// app password (they stand in for it in old clients: one made while the
// password had leaked must not outlive it), each audited.
func TestAppPasswordsEndWithThePassword(t *testing.T) { // OP-03 applied to app passwords (no SECURITY.md id names them)
	storetestBackends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		joe, fresh, _ := appPasswordFixture(t, f)
		c := fresh()
		var pws []string
		for _, label := range []string{"old app", "older app"} {
			_, pw, err := f.svc.CreateAppPassword(ctx, c, label)
			if err != nil {
				t.Fatal(err)
			}
			pws = append(pws, pw)
		}
		if _, err := oldClient(f, "joe@example.com", pws[0], "2.0.0"); err != nil {
			t.Fatalf("an app password before the change: %v", err)
		}
		if err := f.svc.ChangePassword(ctx, c, password, "a new password for joe"); err != nil {
			t.Fatal(err)
		}
		for i, pw := range pws {
			if _, err := oldClient(f, "joe@example.com", pw, "2.0.0"); !errors.Is(err, twostep.ErrInvalidCredentials) {
				t.Errorf("app password %d after the password changed: %v, want ErrInvalidCredentials", i+1, err)
			}
		}
		if left, err := f.svc.AppPasswordsOf(ctx, c); err != nil || len(left) != 0 {
			t.Errorf("app passwords after the change: %d %v, want none", len(left), err)
		}
		if evs := f.events(joe.ID, "app_password.revoked"); len(evs) != 2 {
			t.Errorf("app_password.revoked events: %d, want 2", len(evs))
		}
	})
}

// TestAppPasswordNeedsTwoStep: without two-step the password alone already
// signs an old client in: no app password (ErrConflict).
func TestAppPasswordNeedsTwoStep(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("owner@example.com")
	c := f.caller(f.signIn("owner@example.com").SessionToken)
	if _, _, err := f.svc.CreateAppPassword(context.Background(), c, "old app"); !errors.Is(err, twostep.ErrConflict) {
		t.Errorf("without two-step: %v, want ErrConflict", err)
	}
}

func isInvalid(err error, field string) bool {
	var ie *twostep.InvalidError
	return errors.As(err, &ie) && ie.Field == field
}
