package twostep_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
)

// importTool returns the path of an independent tool a test needs, skipping
// without it (failing in CI, which installs it).
func importTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; .ci/run installs it", name)
		}
		t.Skipf("%s is not installed (apt-get install %s)", name, pkg)
	}
	return p
}

// output runs a tool and returns its standard output, trimmed.
func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s: %v: %s", name, err, ee.Stderr)
		}
		t.Fatalf("%s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// importLine imports one account described by fields into the fixture's
// organisation (made by an owner first, when there is none).
func (f *fixture) importLine(o twostep.ImportOptions, fields map[string]any) twostep.ImportResult {
	f.t.Helper()
	if f.org == "" {
		f.account("owner@example.com")
	}
	o.Org = f.org
	raw, err := json.Marshal(fields)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.importRaw(o, raw)
}

func (f *fixture) importRaw(o twostep.ImportOptions, raw []byte) twostep.ImportResult {
	f.t.Helper()
	ctx := context.Background()
	im, err := f.svc.NewImport(ctx, o)
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := im.Line(ctx, raw)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

func (f *fixture) storedHash(email string) string {
	f.t.Helper()
	a, err := f.db.AccountByEmail(context.Background(), email)
	if err != nil {
		f.t.Fatal(err)
	}
	return a.PasswordHash
}

// TestImportHashesOfOtherTools: hashes made by independent tools — Debian's
// htpasswd for bcrypt, Python's hashlib for Django's PBKDF2, passlib's PHC
// PBKDF2 and scrypt, the argon2 reference implementation's published example —
// are imported as they are; a wrong password does not match them; the original
// password signs in through the real service, and the stored hash is then
// Twostep's argon2id, which signs in again (API.md §9).
func TestImportHashesOfOtherTools(t *testing.T) {
	htpasswd := importTool(t, "htpasswd", "apache2-utils")
	python := importTool(t, "python3", "python3")
	const pw = "the old product's password"
	// Django's PBKDF2SHA256PasswordHasher.encode, with the standard library only.
	django := output(t, python, "-c", `import base64, hashlib, sys
salt, it = "seasalt0123456789abcd", 20000
h = base64.b64encode(hashlib.pbkdf2_hmac("sha256", sys.argv[1].encode(), salt.encode(), it)).decode()
print("pbkdf2_sha256$%d$%s$%s" % (it, salt, h))`, pw)
	// passlib's pbkdf2_sha256 and scrypt: base64 without padding, "." for "+".
	passlib := output(t, python, "-c", `import base64, hashlib, sys
ab64 = lambda b: base64.b64encode(b).decode().rstrip("=").replace("+", ".")
salt, pw = b"\x01\x02salt of passlib", sys.argv[1].encode()
print("$pbkdf2-sha256$29000$%s$%s" % (ab64(salt), ab64(hashlib.pbkdf2_hmac("sha256", pw, salt, 29000))))`, pw)
	scrypt := output(t, python, "-c", `import base64, hashlib, sys
b64 = lambda b: base64.b64encode(b).decode().rstrip("=")
salt = b"scrypt salt 16 b"
print("$scrypt$ln=14,r=8,p=1$%s$%s" % (b64(salt), b64(hashlib.scrypt(sys.argv[1].encode(), salt=salt, n=2**14, r=8, p=1, dklen=32))))`, pw)
	_, bcrypt, _ := strings.Cut(output(t, htpasswd, "-nbB", "-C", "10", "ann", pw), ":")
	tests := []struct {
		name, hash, password, scheme string
	}{
		{"bcrypt by htpasswd", bcrypt, pw, twostep.SchemeBcrypt},
		{"django pbkdf2 by hashlib", django, pw, twostep.SchemePBKDF2SHA256},
		{"passlib pbkdf2", passlib, pw, twostep.SchemePBKDF2SHA256},
		{"scrypt by hashlib", scrypt, pw, twostep.SchemeScrypt},
		// The argon2 reference implementation's README: echo -n "password" | ./argon2 somesalt -t 2 -m 16 -p 4 -l 24
		{"argon2i reference", "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", "password", twostep.SchemeArgon2i},
	}
	if !strings.HasPrefix(bcrypt, "$2y$10$") {
		t.Fatalf("htpasswd made %q, not a bcrypt hash", bcrypt)
	}
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, twostep.Limits{})
		ctx := context.Background()
		for i, tc := range tests {
			email := "user" + string(rune('a'+i)) + "@example.com"
			res := f.importLine(twostep.ImportOptions{}, map[string]any{"email": email, "password_hash": tc.hash})
			if res.Outcome != twostep.ImportImported || res.Err != nil || res.SetPasswordToken != "" {
				t.Fatalf("%s: %+v", tc.name, res)
			}
			if _, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: email, Password: tc.password + "!", IP: "192.0.2.9"}); !errors.Is(err, twostep.ErrInvalidCredentials) {
				t.Errorf("%s: a wrong password: %v, want invalid credentials", tc.name, err)
			}
			if got := f.storedHash(email); got != tc.hash {
				t.Errorf("%s: a wrong password changed the hash", tc.name)
			}
			got, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: email, Password: tc.password, IP: "192.0.2.1"})
			if err != nil || got.Status != twostep.StatusSignedIn {
				t.Fatalf("%s: sign-in with the original password: %v %+v", tc.name, err, got)
			}
			stored := f.storedHash(email)
			if !strings.HasPrefix(stored, "$argon2id$v=19$m=64,t=1,p=1$") || !twostep.IsNativeHash(stored) {
				t.Errorf("%s: stored hash after the first sign-in is %.20q…, want Twostep's argon2id", tc.name, stored)
			}
			if _, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: email, Password: tc.password, IP: "192.0.2.1"}); err != nil {
				t.Errorf("%s: sign-in after the upgrade: %v", tc.name, err)
			}
			a, _ := db.AccountByEmail(ctx, email)
			evs, err := db.Events(ctx, twostep.EventFilter{AccountID: a.ID, Type: twostep.EventAccountImported, Limit: 5})
			if err != nil || len(evs) != 1 {
				t.Fatalf("%s: import events %v %v", tc.name, evs, err)
			}
			if d, _ := twostep.DetailOf(evs[0]); !cmp.Equal(d, &twostep.AccountImported{Role: twostep.RoleMember, Scheme: tc.scheme}) {
				t.Errorf("%s: audit detail %+v", tc.name, d)
			}
		}
	})
}

// TestImportKeepsSecondStep: an imported TOTP secret is an active
// authenticator app that accepts the code oathtool computes, with two-step on
// and no notice sent; a mobile number gets SMS and calls, a fixed line calls.
func TestImportKeepsSecondStep(t *testing.T) {
	oathtool := importTool(t, "oathtool", "oathtool")
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, twostep.Limits{})
		ctx := context.Background()
		f.account("owner@example.com")
		f.outbox()
		hash, err := twostep.NewHasher(twosteptest.CheapArgon2, 1, 1, time.Second, rand.Reader).Hash(ctx, password)
		if err != nil {
			t.Fatal(err)
		}
		const secret = "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp" // as an export may write it
		res := f.importLine(twostep.ImportOptions{}, map[string]any{"email": "app@example.com", "password_hash": hash,
			"totp_secret": secret, "phone": "+33 6 12 34 56 78", "locale": "fr", "role": "admin"})
		if res.Outcome != twostep.ImportImported || !cmp.Equal(res.Methods, []twostep.Method{twostep.MethodTOTP, twostep.MethodSMS}) {
			t.Fatalf("import: %+v", res)
		}
		if got := f.storedHash("app@example.com"); got != hash {
			t.Error("an argon2id hash of Twostep's own form was changed by the import")
		}
		if msgs := f.outbox(); len(msgs) != 0 {
			t.Errorf("an import sent %v: no notice for imported methods", msgs)
		}
		si := f.signIn("app@example.com")
		if si.Status != twostep.StatusSecondStep || si.Account.Locale != "fr" || si.Account.Role != twostep.RoleAdmin || !si.Account.TwoStepEnabled() {
			t.Fatalf("sign-in: %+v", si)
		}
		if got := f.storedHash("app@example.com"); got != hash {
			t.Error("a sign-in replaced an argon2id hash: only foreign hashes are upgraded")
		}
		now := f.clock.Now()
		code := output(t, oathtool, "--totp", "-b", strings.ToUpper(strings.ReplaceAll(secret, " ", "")),
			"--now", now.Format("2006-01-02 15:04:05 UTC"))
		done, err := f.verify(si.SignInToken, twostep.MethodTOTP, code)
		if err != nil || done.Status != twostep.StatusSignedIn {
			t.Fatalf("oathtool's code %s: %v %+v", code, err, done)
		}
		factors, err := db.Factors(ctx, si.Account.ID)
		if err != nil {
			t.Fatal(err)
		}
		type view struct {
			Method   twostep.Method
			Status   twostep.FactorStatus
			Address  string
			Channels []twostep.Method
			Default  bool
		}
		var got []view
		for _, fc := range factors {
			got = append(got, view{fc.Method, fc.Status, fc.Address, fc.Channels, fc.Default})
		}
		want := []view{
			{twostep.MethodTOTP, twostep.FactorActive, "", nil, true},
			{twostep.MethodSMS, twostep.FactorActive, "+33612345678", []twostep.Method{twostep.MethodSMS, twostep.MethodVoice}, false},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("factors (-want +got):\n%s", diff)
		}
		if string(factors[0].Secret) == secret || len(factors[0].Secret) < 20 {
			t.Error("the TOTP secret is not sealed")
		}

		fixed := f.importLine(twostep.ImportOptions{}, map[string]any{"email": "desk@example.com", "phone": "+33 1 23 45 67 89"})
		if fixed.Outcome != twostep.ImportImported || !cmp.Equal(fixed.Methods, []twostep.Method{twostep.MethodVoice}) {
			t.Errorf("a fixed line: %+v, want a voice factor", fixed)
		}
		if got := f.eventTypes(si.Account.ID); !cmp.Equal(got[:1], []string{"account.imported"}) {
			t.Errorf("events %v, want the import first", got)
		}
	})
}

// TestImportRefusals: every line that cannot be imported fails with the field
// and reason, says nothing of the hash, secret or number, and leaves nothing
// behind; hashes over the cost ceilings are refused before any hashing.
func TestImportRefusals(t *testing.T) {
	const bcryptTail = "abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
	salt, key := "c29tZXNhbHQ", "RdescudvJCsgt3ub+b+dWRWJTmaaJObG"
	tests := []struct {
		name  string
		line  string
		field string
		code  twostep.Reason
	}{
		{"bcrypt cost 15", `{"email":"x@example.com","password_hash":"$2b$15$` + bcryptTail + `"}`, "password_hash", twostep.ReasonHashTooCostly},
		{"argon2 memory", `{"email":"x@example.com","password_hash":"$argon2id$v=19$m=65537,t=2,p=1$` + salt + `$` + key + `"}`, "password_hash", twostep.ReasonHashTooCostly},
		{"argon2 time", `{"email":"x@example.com","password_hash":"$argon2i$v=19$m=4096,t=11,p=1$` + salt + `$` + key + `"}`, "password_hash", twostep.ReasonHashTooCostly},
		{"argon2id native form over the ceiling", `{"email":"x@example.com","password_hash":"$argon2id$v=19$m=1048576,t=2,p=1$c29tZXNhbHRzYWx0$` + key + `"}`, "password_hash", twostep.ReasonHashTooCostly},
		{"scrypt N", `{"email":"x@example.com","password_hash":"$scrypt$ln=18,r=8,p=1$` + salt + `$` + key + `"}`, "password_hash", twostep.ReasonHashTooCostly},
		{"scrypt work", `{"email":"x@example.com","password_hash":"$scrypt$ln=17,r=8,p=2$` + salt + `$` + key + `"}`, "password_hash", twostep.ReasonHashTooCostly},
		{"pbkdf2", `{"email":"x@example.com","password_hash":"pbkdf2_sha256$1000001$salt$` + "q7pbLkfLBP7UUVC0oNTVfiCwR3dmCVtJKyLV+cxXPQs=" + `"}`, "password_hash", twostep.ReasonHashTooCostly},
		{"phc pbkdf2", `{"email":"x@example.com","password_hash":"$pbkdf2-sha256$i=2000000$` + salt + `$` + key + `"}`, "password_hash", twostep.ReasonHashTooCostly},
		{"md5crypt", `{"email":"x@example.com","password_hash":"$1$saltsalt$qjXMvbEw8oaL.CzflDugX/"}`, "password_hash", twostep.ReasonHashUnknown},
		{"bcrypt cut short", `{"email":"x@example.com","password_hash":"$2y$10$abc"}`, "password_hash", twostep.ReasonHashMalformed},
		{"argon2 version 16", `{"email":"x@example.com","password_hash":"$argon2i$m=4096,t=2,p=1$` + salt + `$` + key + `"}`, "password_hash", twostep.ReasonHashMalformed},
		{"sso with a hash", `{"email":"x@example.com","sso":true,"password_hash":"$2y$10$` + bcryptTail + `"}`, "password_hash", twostep.ReasonSSONoPassword},
		{"sso with an app", `{"email":"x@example.com","sso":true,"totp_secret":"JBSWY3DPEHPK3PXP"}`, "totp_secret", twostep.ReasonSSONoMethods},
		{"secret not base32", `{"email":"x@example.com","totp_secret":"not base32!"}`, "totp_secret", twostep.ReasonTOTPSecret},
		{"secret too short", `{"email":"x@example.com","totp_secret":"JBSWY3DP"}`, "totp_secret", twostep.ReasonTOTPSecret},
		{"phone not E.164", `{"email":"x@example.com","phone":"06 12 34 56 78"}`, "phone", twostep.ReasonPhoneE164},
		{"phone country not allowed", `{"email":"x@example.com","phone":"+1 415 555 2671"}`, "phone", twostep.ReasonPhoneCountryNotAllowed},
		{"email", `{"email":"not an address","totp_secret":"JBSWY3DPEHPK3PXPJBSWY3DP"}`, "email", twostep.ReasonEmail},
		{"role", `{"email":"x@example.com","role":"boss"}`, "role", twostep.ReasonRole},
		{"locale", `{"email":"x@example.com","locale":"de"}`, "locale", twostep.ReasonLocale},
		{"misspelt field", `{"email":"x@example.com","pasword_hash":"$2y$10$` + bcryptTail + `"}`, "pasword_hash", twostep.ReasonImportField},
		{"wrong type", `{"email":"x@example.com","sso":"yes"}`, "sso", twostep.ReasonImportJSON},
		{"not JSON", `email=x@example.com`, "", twostep.ReasonImportJSON},
		{"two objects", `{"email":"x@example.com"} {"email":"y@example.com"}`, "", twostep.ReasonImportJSON},
	}
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, twostep.Limits{})
		f.account("owner@example.com")
		f.rebuild(func(o *twostep.Options) { o.SMSCountries = []string{"FR", "BE"} })
		ctx := context.Background()
		for _, tc := range tests {
			for _, dry := range []bool{false, true} {
				res := f.importRaw(twostep.ImportOptions{Org: f.org, DryRun: dry}, []byte(tc.line))
				var inv *twostep.InvalidError
				if res.Outcome != twostep.ImportFailed || !errors.As(res.Err, &inv) || inv.Field != tc.field || inv.Code != tc.code {
					t.Errorf("%s (dry run %v): %+v (%v), want failed: %s %s", tc.name, dry, res, res.Err, tc.field, tc.code)
					continue
				}
				for _, secret := range []string{"$2", "abcdefghij", "JBSWY3DP", "12 34", "c29tZXNhbHQ"} {
					if strings.Contains(res.Err.Error(), secret) {
						t.Errorf("%s: the error %q holds a part of the line", tc.name, res.Err)
					}
				}
			}
		}
		// A server that sends neither texts nor calls cannot keep a phone.
		f.rebuild(func(o *twostep.Options) { o.Methods = []twostep.Method{twostep.MethodTOTP} })
		res := f.importRaw(twostep.ImportOptions{Org: f.org}, []byte(`{"email":"x@example.com","phone":"+33612345678"}`))
		if inv, ok := res.Err.(*twostep.InvalidError); res.Outcome != twostep.ImportFailed || !ok || inv.Field != "phone" || inv.Code != twostep.ReasonMethodNotOffered {
			t.Errorf("a phone on a server without SMS or calls: %+v", res)
		}
		accts, err := db.Accounts(ctx, f.org)
		if err != nil || len(accts) != 1 {
			t.Errorf("after failed lines the organisation has %d accounts (%v), want its owner alone", len(accts), err)
		}
		evs, err := db.Events(ctx, twostep.EventFilter{OrgID: f.org, Type: twostep.EventAccountImported, Limit: 10})
		if err != nil || len(evs) != 0 {
			t.Errorf("failed lines left events %v %v", evs, err)
		}
	})
}

// TestImportDryRunAndLinks: a dry run writes nothing; an account without a
// password hash gets a set-password link (returned, or e-mailed with Invite);
// a second import of the same e-mail is a skip.
func TestImportDryRunAndLinks(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, twostep.Limits{})
		ctx := context.Background()
		f.account("owner@example.com")
		f.outbox()
		line := map[string]any{"email": "new@example.com", "totp_secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"}
		dry := f.importLine(twostep.ImportOptions{DryRun: true}, line)
		if dry.Outcome != twostep.ImportImported || dry.SetPasswordToken != "" {
			t.Errorf("dry run: %+v", dry)
		}
		if _, err := db.AccountByEmail(ctx, "new@example.com"); !errors.Is(err, twostep.ErrNotFound) {
			t.Fatalf("a dry run wrote the account: %v", err)
		}
		if evs, _ := db.Events(ctx, twostep.EventFilter{OrgID: f.org, Type: twostep.EventAccountImported, Limit: 10}); len(evs) != 0 {
			t.Errorf("a dry run wrote events %v", evs)
		}

		res := f.importLine(twostep.ImportOptions{}, line)
		if res.Outcome != twostep.ImportImported || res.SetPasswordToken == "" {
			t.Fatalf("import: %+v", res)
		}
		if a, _, err := f.svc.SetPasswordAccount(ctx, res.SetPasswordToken); err != nil || a.Email != "new@example.com" {
			t.Errorf("the set-password link: %v %v", a, err)
		}
		if again := f.importLine(twostep.ImportOptions{}, line); again.Outcome != twostep.ImportSkipped {
			t.Errorf("the same e-mail again: %+v, want skipped", again)
		}
		if again := f.importLine(twostep.ImportOptions{DryRun: true}, map[string]any{"email": "OWNER@example.com"}); again.Outcome != twostep.ImportSkipped {
			t.Errorf("an existing e-mail in a dry run: %+v, want skipped", again)
		}

		inv := f.importLine(twostep.ImportOptions{Invite: true}, map[string]any{"email": "invited@example.com"})
		if inv.Outcome != twostep.ImportImported || inv.SetPasswordToken != "" || !inv.Invited {
			t.Fatalf("import with invite: %+v", inv)
		}
		msgs := f.outbox()
		if len(msgs) != 1 || msgs[0].Template != "invitation" || msgs[0].To != "invited@example.com" ||
			!strings.HasPrefix(msgs[0].Data["link"], "https://auth.example.com/invite/") {
			t.Fatalf("messages after the import with invite: %+v", msgs)
		}
		token := strings.TrimPrefix(msgs[0].Data["link"], "https://auth.example.com/invite/")
		if a, _, err := f.svc.SetPasswordAccount(ctx, token); err != nil || a.Email != "invited@example.com" {
			t.Errorf("the invitation link: %v %v", a, err)
		}
		sso := f.importLine(twostep.ImportOptions{Invite: true}, map[string]any{"email": "sso@example.com", "sso": true})
		if sso.Outcome != twostep.ImportImported || sso.Invited || sso.SetPasswordToken != "" || len(f.outbox()) != 0 {
			t.Errorf("an SSO account needs no link: %+v", sso)
		}
	})
}

// TestReplacePasswordHash: the upgrade never overwrites a password changed
// since the imported hash was read.
func TestReplacePasswordHash(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, twostep.Limits{})
		ctx := context.Background()
		a := f.account("owner@example.com")
		for _, tc := range []struct {
			old  string
			want bool
		}{{"stale", false}, {a.PasswordHash, true}} {
			did, err := db.ReplacePasswordHash(ctx, a.ID, tc.old, "new")
			if err != nil || did != tc.want {
				t.Errorf("replace from %.10q: %v %v, want %v", tc.old, did, err, tc.want)
			}
		}
		if got := f.storedHash("owner@example.com"); got != "new" {
			t.Errorf("hash %q", got)
		}
	})
}
