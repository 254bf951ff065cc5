package twostep_test

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
	"github.com/twostep/twostep/internal/twosteptest"
)

type fixture struct {
	t      testing.TB
	db     *store.DB
	svc    *twostep.Service
	sealer *twostep.Sealer
	keys   []twostep.Key
	clock  *twosteptest.Clock
	org    string
	opts   twostep.Options
	sent   []twostep.Message // every message taken from the outbox so far
}

// outbox takes the messages queued since the last call, as the delivery worker
// would, and returns them with their data (codes included).
func (f *fixture) outbox() []twostep.Message {
	f.t.Helper()
	f.svc.Wait() // password-reset requests queue their link after answering
	out := twosteptest.Drain(f.t, f.db, f.sealer, f.clock.Now(), nil)
	f.sent = append(f.sent, out...)
	return out
}

// refuse takes the messages queued since the last call as outbox does, but
// the provider refuses each for good with reason; it returns how many.
func (f *fixture) refuse(reason string) int {
	f.t.Helper()
	return len(twosteptest.Drain(f.t, f.db, f.sealer, f.clock.Now(), func(m *twostep.OutboxMessage, _ map[string]string) {
		m.Status, m.SentAt, m.Permanent, m.Error = twostep.MessageFailed, time.Time{}, true, reason
	}))
}

// templates lists the templates of every message queued so far, oldest first.
func (f *fixture) templates() []string {
	f.outbox()
	var out []string
	for _, m := range f.sent {
		out = append(out, m.Template)
	}
	return out
}

const password = "correct horse battery"

func newFixture(t testing.TB, db *store.DB, limits twostep.Limits) *fixture {
	t.Helper()
	return newFixtureArgon(t, db, limits, twosteptest.CheapArgon2)
}

func newFixtureArgon(t testing.TB, db *store.DB, limits twostep.Limits, argon twostep.Argon2Params) *fixture {
	t.Helper()
	keys := twosteptest.NewKeys(t)
	sealer := twosteptest.NewSealer(t, keys...)
	f := &fixture{t: t, db: db, sealer: sealer, keys: keys, clock: twosteptest.NewClock(time.Date(2026, 11, 23, 9, 0, 15, 0, time.UTC))}
	f.opts = twostep.Options{
		Store: db, Sealer: sealer, Rand: rand.Reader, Clock: f.clock.Now, Limits: limits, BaseURL: "https://auth.example.com",
		Methods: []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail, twostep.MethodSMS, twostep.MethodVoice},
		Hasher:  twostep.NewHasher(argon, 4, 1000, 10*time.Second, rand.Reader),
		// The web adapter's parser stands behind this port in the binary; the
		// domain's tests need only see that what it says reaches the notice.
		DescribeAgent: func(ua string) twostep.Agent {
			if strings.Contains(ua, "Firefox/") && strings.Contains(ua, "Linux") {
				return twostep.Agent{Browser: "Firefox", Platform: "Linux"}
			}
			return twostep.Agent{}
		},
	}
	f.rebuild(func(*twostep.Options) {})
	return f
}

// rebuild makes the fixture's service anew with changed options, over the same
// store and clock.
func (f *fixture) rebuild(change func(*twostep.Options)) {
	f.t.Helper()
	change(&f.opts)
	svc, err := twostep.New(f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.svc = svc
}

// account creates an account with the test password (the first one creates the organisation).
func (f *fixture) account(email string) *twostep.Account {
	f.t.Helper()
	ctx := context.Background()
	if f.org == "" {
		org, acct, _, err := f.svc.CreateOrg(ctx, twostep.NewOrg{Name: "Cloud Legal", OwnerEmail: email, Password: password})
		if err != nil {
			f.t.Fatal(err)
		}
		f.org = org.ID
		return acct
	}
	acct, _, err := f.svc.CreateAccount(ctx, twostep.NewAccount{Org: f.org, Email: email, Password: password})
	if err != nil {
		f.t.Fatal(err)
	}
	return acct
}

func (f *fixture) signIn(email string) *twostep.SignInResult {
	f.t.Helper()
	res, err := f.svc.SignIn(context.Background(), twostep.SignInRequest{Email: email, Password: password, IP: "192.0.2.1"})
	if err != nil {
		f.t.Fatalf("sign in %s: %v", email, err)
	}
	return res
}

// caller signs in with the password alone (the account has no second step yet)
// and returns the caller its session token opens.
func (f *fixture) caller(token string) *twostep.Caller {
	f.t.Helper()
	c, err := f.svc.Authenticate(context.Background(), token, "192.0.2.1", "test")
	if err != nil {
		f.t.Fatalf("authenticate: %v", err)
	}
	return c
}

// enrol gives the account an authenticator app and returns its seed and the
// first recovery codes.
func (f *fixture) enrol(email string) (secret []byte, codes []string) {
	f.t.Helper()
	ctx := context.Background()
	res := f.signIn(email)
	if res.Status != twostep.StatusSignedIn {
		f.t.Fatalf("status %s, want signed_in", res.Status)
	}
	c := f.caller(res.SessionToken)
	nf, err := f.svc.AddFactor(ctx, c, twostep.FactorRequest{Method: twostep.MethodTOTP})
	if err != nil {
		f.t.Fatal(err)
	}
	secret, err = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(nf.Secret)
	if err != nil {
		f.t.Fatal(err)
	}
	_, codes, err = f.svc.VerifyFactor(ctx, c, nf.Factor.ID, f.code(secret))
	if err != nil {
		f.t.Fatal(err)
	}
	// The step just used cannot serve again: move on to the next one.
	f.clock.Advance(30 * time.Second)
	return secret, codes
}

func (f *fixture) code(secret []byte) string {
	return twostep.TOTPCode(secret, twostep.TOTPStep(f.clock.Now()))
}

func (f *fixture) verify(token string, m twostep.Method, code string) (*twostep.SignInResult, error) {
	return f.svc.VerifySignIn(context.Background(), twostep.VerifyRequest{SignInToken: token, Method: m, Code: code, IP: "192.0.2.1"})
}

func (f *fixture) eventTypes(accountID string) []string {
	f.t.Helper()
	evs, err := f.db.Events(context.Background(), twostep.EventFilter{AccountID: accountID, Limit: 200})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		out = append(out, string(evs[i].Type))
	}
	return out
}

func TestSignInWithoutSecondStep(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	acct := f.account("joe@example.com")
	res := f.signIn("JOE@example.com ")
	if res.Status != twostep.StatusSignedIn || res.SessionToken == "" || res.SignInToken != "" {
		t.Fatalf("got %+v, want signed_in with a session token only", res)
	}
	if diff := cmp.Diff([]string{"pwd"}, res.Session.AMR); diff != "" {
		t.Errorf("amr (-want +got):\n%s", diff)
	}
	c := f.caller(res.SessionToken)
	if c.Account.ID != acct.ID {
		t.Errorf("session opens %s, want %s", c.Account.ID, acct.ID)
	}
	// FL-03: 256-bit tokens, base64url.
	if len(res.SessionToken) != 43 {
		t.Errorf("session token has %d characters, want 43 (256 bits)", len(res.SessionToken))
	}
}

// TestSignInEnumeration: an unknown e-mail and a wrong password give the same
// error (EN-01); the HTTP test checks the bytes.
func TestSignInEnumeration(t *testing.T) { // EN-01
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	ctx := context.Background()
	_, errUnknown := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "nobody@example.com", Password: password})
	_, errWrong := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: "wrong password"})
	if errUnknown != twostep.ErrInvalidCredentials || errWrong != twostep.ErrInvalidCredentials {
		t.Errorf("unknown: %v, wrong password: %v; want ErrInvalidCredentials for both", errUnknown, errWrong)
	}
}

func TestSecondStepJourney(t *testing.T) { // FL-02, OTP-12
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	acct := f.account("joe@example.com")
	secret, codes := f.enrol("joe@example.com")
	if len(codes) != twostep.RecoveryCodeCount {
		t.Fatalf("got %d recovery codes, want %d", len(codes), twostep.RecoveryCodeCount)
	}
	res := f.signIn("joe@example.com")
	if res.Status != twostep.StatusSecondStep || res.SessionToken != "" || res.SignInToken == "" {
		t.Fatalf("got %+v, want second_step with a sign-in token only", res)
	}
	var methods []twostep.Method
	for _, m := range res.Methods {
		methods = append(methods, m.Method)
	}
	if diff := cmp.Diff([]twostep.Method{twostep.MethodTOTP, twostep.MethodRecoveryCode}, methods); diff != "" {
		t.Errorf("methods (-want +got):\n%s", diff)
	}
	if res.DefaultMethod != twostep.MethodTOTP {
		t.Errorf("default method %q, want totp", res.DefaultMethod)
	}
	// FL-01: the sign-in token is not a session.
	if _, err := f.svc.Authenticate(context.Background(), res.SignInToken, "", ""); !errors.Is(err, twostep.ErrUnauthenticated) {
		t.Errorf("sign-in token as a session: %v, want ErrUnauthenticated", err)
	}
	done, err := f.verify(res.SignInToken, twostep.MethodTOTP, f.code(secret))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"pwd", "otp"}, done.Session.AMR); diff != "" {
		t.Errorf("amr (-want +got):\n%s", diff)
	}
	if done.SessionToken == res.SignInToken {
		t.Error("the session token is the sign-in token")
	}
	// The sign-in token is spent.
	if _, err := f.verify(res.SignInToken, twostep.MethodTOTP, f.code(secret)); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("reusing the sign-in token: %v, want ErrExpired", err)
	}
	want := []string{"account.created", "sign_in.succeeded", "factor.added", "two_step.enabled", "recovery_codes.generated", "sign_in.succeeded"}
	if diff := cmp.Diff(want, f.eventTypes(acct.ID)); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"two_step_enabled"}, f.templates()); diff != "" {
		t.Errorf("notices (-want +got):\n%s", diff)
	}
}

func TestTOTPReplay(t *testing.T) { // OTP-08, OTP-10
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	acct := f.account("joe@example.com")
	secret, _ := f.enrol("joe@example.com")
	code := f.code(secret)
	if _, err := f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, code); err != nil {
		t.Fatal(err)
	}
	// The same code in another sign-in, still within its window, is refused.
	_, err := f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, code)
	var ce *twostep.CodeError
	if !errors.As(err, &ce) {
		t.Fatalf("replay: %v, want a CodeError", err)
	}
	// So is the code of the step before the one used (a step ≤ the last accepted one).
	earlier := twostep.TOTPCode(secret, twostep.TOTPStep(f.clock.Now())-1)
	if _, err := f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, earlier); !errors.As(err, &ce) {
		t.Fatalf("earlier step: %v, want a CodeError", err)
	}
	types := f.eventTypes(acct.ID)
	if !contains(types, "second_step.replayed") {
		t.Errorf("no second_step.replayed event in %v", types)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// race runs fn(0) … fn(n-1) at once and counts the successes; on SQLite the
// calls share one transaction, so that a single-use check made on a read
// outside the transaction fails here as it would under load (see
// twosteptest.Race).
func (f *fixture) race(n int, fn func(i int) error) (ok int, errs []error) {
	f.t.Helper()
	return twosteptest.Race(f.t, f.db, n, fn)
}

// TestParallelSingleUse: the same TOTP code, the same recovery code and the same
// sign-in token submitted many times at once give exactly one success, on both
// backends (OTP-09, RC-03, RL-05's atomic consumption).
func TestParallelSingleUse(t *testing.T) { // OTP-09, RC-03
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		// Each case has its own account: the losers of each race count as failures.
		f := newFixture(t, db, twostep.Limits{})
		const n = 20

		t.Run("totp step in many sign-ins", func(t *testing.T) {
			f.account("a@example.com")
			secret, _ := f.enrol("a@example.com")
			tokens := make([]string, n)
			for i := range tokens {
				tokens[i] = f.signIn("a@example.com").SignInToken
			}
			code := f.code(secret)
			ok, errs := f.race(n, func(i int) error { _, err := f.verify(tokens[i], twostep.MethodTOTP, code); return err })
			if ok != 1 {
				t.Errorf("%d successes, want 1 (errors: %v)", ok, errs)
			}
		})
		t.Run("recovery code in many sign-ins", func(t *testing.T) {
			f.account("b@example.com")
			_, codes := f.enrol("b@example.com")
			tokens := make([]string, n)
			for i := range tokens {
				tokens[i] = f.signIn("b@example.com").SignInToken
			}
			ok, errs := f.race(n, func(i int) error { _, err := f.verify(tokens[i], twostep.MethodRecoveryCode, codes[0]); return err })
			if ok != 1 {
				t.Errorf("%d successes, want 1 (errors: %v)", ok, errs)
			}
		})
		t.Run("one sign-in token, different valid codes", func(t *testing.T) {
			f.account("c@example.com")
			_, codes := f.enrol("c@example.com")
			token := f.signIn("c@example.com").SignInToken
			ok, errs := f.race(5, func(i int) error {
				_, err := f.verify(token, twostep.MethodRecoveryCode, codes[1+i])
				return err
			})
			if ok != 1 {
				t.Errorf("%d successes, want 1 (errors: %v)", ok, errs)
			}
		})
	})
}

// TestWrongGuessesCounted: 50 wrong codes at once over 50 sign-ins all count
// (RL-05); the account limit is set high so that no lock stops the count (RL-10).
func TestWrongGuessesCounted(t *testing.T) { // RL-05, RL-03
	storetest.Backends(t, func(t *testing.T, db *store.DB) {
		limits := twostep.DefaultLimits
		limits.Account = twostep.Limit{Free: 1000, Base: time.Second, Max: time.Second, PerHour: 1000}
		f := newFixture(t, db, limits)
		acct := f.account("joe@example.com")
		secret, _ := f.enrol("joe@example.com")
		const n = 50
		tokens := make([]string, n)
		for i := range tokens {
			tokens[i] = f.signIn("joe@example.com").SignInToken
		}
		wrong := twostep.TOTPCode(secret, twostep.TOTPStep(f.clock.Now())+5)
		ok, _ := f.race(n, func(i int) error { _, err := f.verify(tokens[i], twostep.MethodTOTP, wrong); return err })
		if ok != 0 {
			t.Fatalf("%d wrong codes accepted", ok)
		}
		th, err := db.Throttle(context.Background(), "account:"+acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		if th.Failures != n {
			t.Errorf("account counted %d failures, want %d", th.Failures, n)
		}
	})
}

// TestSignInAttempts: one sign-in allows 5 wrong codes, then it is spent (RL-06).
func TestSignInAttempts(t *testing.T) { // RL-06
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	secret, _ := f.enrol("joe@example.com")
	token := f.signIn("joe@example.com").SignInToken
	wrong := twostep.TOTPCode(secret, twostep.TOTPStep(f.clock.Now())+5)
	for want := 4; want >= 0; want-- {
		_, err := f.verify(token, twostep.MethodTOTP, wrong)
		var ce *twostep.CodeError
		if !errors.As(err, &ce) || ce.AttemptsLeft != want {
			t.Fatalf("got %v, want a CodeError with %d attempts left", err, want)
		}
	}
	if _, err := f.verify(token, twostep.MethodTOTP, f.code(secret)); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("right code after 5 wrong ones: %v, want ErrExpired", err)
	}
}

// TestAccountBackoff: 10 wrong codes over several sign-ins lock the account for
// 30 s; while locked even the right code gets the same answer; the lock ends by
// itself and a success clears the count.
func TestAccountBackoff(t *testing.T) { // RL-01, RL-03, RL-07, RL-08, RL-09, RL-11
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	acct := f.account("joe@example.com")
	secret, _ := f.enrol("joe@example.com")
	// A session from before the lock, to try a step-up with while locked.
	before, err := f.verify(f.signIn("joe@example.com").SignInToken, twostep.MethodTOTP, f.code(secret))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	wrong := twostep.TOTPCode(secret, twostep.TOTPStep(f.clock.Now())+5)
	for i := 0; i < 10; i++ {
		token := f.signIn("joe@example.com").SignInToken
		if _, err := f.verify(token, twostep.MethodTOTP, wrong); !errors.Is(err, twostep.ErrInvalidCode) {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
	}
	token := f.signIn("joe@example.com").SignInToken
	_, err = f.verify(token, twostep.MethodTOTP, f.code(secret))
	if !errors.Is(err, twostep.ErrThrottled) || twostep.RetryAfter(err) != 30*time.Second {
		t.Fatalf("right code while locked: %v (retry after %v), want ErrThrottled for 30s", err, twostep.RetryAfter(err))
	}
	_, errWrong := f.verify(token, twostep.MethodTOTP, wrong)
	if !errors.Is(errWrong, twostep.ErrThrottled) {
		t.Errorf("wrong code while locked: %v, want the same ErrThrottled", errWrong)
	}
	// RL-09: step-up is locked too.
	_, _, err = f.svc.ConfirmIdentity(context.Background(), f.caller(before.SessionToken),
		twostep.ConfirmRequest{Password: password, Method: twostep.MethodTOTP, Code: f.code(secret)})
	if !errors.Is(err, twostep.ErrThrottled) {
		t.Errorf("confirm identity while locked: %v, want ErrThrottled", err)
	}
	f.clock.Advance(31 * time.Second)
	if _, err := f.verify(token, twostep.MethodTOTP, f.code(secret)); err != nil {
		t.Fatalf("right code after the lock: %v", err)
	}
	th, _ := f.db.Throttle(context.Background(), "account:"+acct.ID)
	if th.Failures != 0 {
		t.Errorf("%d failures remembered after a success, want 0", th.Failures)
	}
	if types := f.eventTypes(acct.ID); !contains(types, "second_step.locked") {
		t.Errorf("no second_step.locked event in %v", types)
	}
}

// TestPasswordThrottlePerAddress: wrong passwords from one address lock it for
// every e-mail, while right ones from it never count (RL-03, OOB-10's per-IP idea
// applied to passwords).
func TestPasswordThrottlePerAddress(t *testing.T) {
	limits := twostep.DefaultLimits
	limits.IP = twostep.Limit{Free: 3, Base: time.Minute, Max: time.Hour, PerHour: 100}
	f := newFixture(t, storetest.SQLite(t), limits)
	f.account("joe@example.com")
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		if _, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: password, IP: "198.51.100.7"}); err != nil {
			t.Fatalf("good sign-in %d from one address: %v", i+1, err)
		}
	}
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if _, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: email, Password: "wrong password", IP: "198.51.100.7"}); !errors.Is(err, twostep.ErrInvalidCredentials) {
			t.Fatalf("%s: %v", email, err)
		}
	}
	_, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: password, IP: "198.51.100.7"})
	if !errors.Is(err, twostep.ErrThrottled) || twostep.RetryAfter(err) != time.Minute {
		t.Errorf("after 3 failures from the address: %v (retry after %v), want ErrThrottled for 1m", err, twostep.RetryAfter(err))
	}
	if _, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: password, IP: "203.0.113.9"}); err != nil {
		t.Errorf("from another address: %v", err)
	}
}
