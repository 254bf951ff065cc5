package twostep_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestPostgresSecondStepRoundTrips: a second step by authenticator app costs
// PostgreSQL at most 3 round trips (issue 21), whatever its outcome, and each
// outcome is still the right one: a wrong code counted and refused (RL-05), the
// right code signing in, the same code again refused as a replay (OTP-09,
// OTP-10), a locked account refused even with the right code (RL-08). The race
// and throttle tests (RL-12 TestParallelWrongCodesCapped, the store's
// contract_race_test) run on PostgreSQL over the same path unchanged.
func TestPostgresSecondStepRoundTrips(t *testing.T) { // RL-05, RL-08, OTP-09, OTP-10
	f := newFixture(t, storetest.Postgres(t), twostep.Limits{})
	acct := f.account("joe@example.com")
	secret, _ := f.enrol("joe@example.com")
	ctx := context.Background()
	const most = 3

	// verify runs one second step on a fresh sign-in and returns its error and
	// the round trips it took.
	verify := func(code string) (*twostep.SignInResult, error, uint64) {
		t.Helper()
		token := f.signIn("joe@example.com").SignInToken
		before := f.db.RoundTrips()
		res, err := f.verify(token, twostep.MethodTOTP, code)
		trips := f.db.RoundTrips() - before
		t.Logf("%v: %d round trips", err, trips)
		return res, err, trips
	}
	right := f.code(secret)
	wrong := twostep.TOTPCode(secret, twostep.TOTPStep(f.clock.Now())+7)

	var ce *twostep.CodeError
	_, err, trips := verify(wrong)
	if !errors.As(err, &ce) || ce.AttemptsLeft != twostep.DefaultLimits.Attempts-1 {
		t.Fatalf("wrong code: %v, want a CodeError with %d attempts left", err, twostep.DefaultLimits.Attempts-1)
	}
	if trips > most {
		t.Errorf("a wrong code took %d round trips, want at most %d", trips, most)
	}
	th, err := f.db.Throttle(ctx, "account:"+acct.ID)
	if err != nil || th.Failures != 1 {
		t.Errorf("after one wrong code the account counts %d failures (%v), want 1", th.Failures, err)
	}

	res, err, trips := verify(right)
	if err != nil || res.Status != twostep.StatusSignedIn || res.SessionToken == "" {
		t.Fatalf("right code: %+v, %v; want signed in", res, err)
	}
	if trips > most {
		t.Errorf("the right code took %d round trips, want at most %d", trips, most)
	}
	c := f.caller(res.SessionToken)
	if diff := cmp.Diff([]string{"pwd", "otp"}, c.Session.AMR); diff != "" || c.Session.SecondStep != twostep.SecondStepProven {
		t.Errorf("the session: amr %v, second step %q; want pwd, otp, proven", c.Session.AMR, c.Session.SecondStep)
	}
	if th, _ := f.db.Throttle(ctx, "account:"+acct.ID); th.Failures != 0 {
		t.Errorf("after the right code the account counts %d failures, want 0 (RL-07)", th.Failures)
	}

	_, err, trips = verify(right)
	if !errors.Is(err, twostep.ErrInvalidCode) {
		t.Fatalf("the same code again: %v, want ErrInvalidCode", err)
	}
	if trips > most {
		t.Errorf("a replayed code took %d round trips, want at most %d", trips, most)
	}
	types := f.eventTypes(acct.ID)
	if !contains(types, "second_step.replayed") || !contains(types, "sign_in.succeeded") || !contains(types, "second_step.failed") {
		t.Errorf("events %v lack the failure, the success or the replay", types)
	}

	// Locked: the right code is refused too (RL-08), in as few trips.
	for range twostep.DefaultLimits.Account.Free {
		if _, err, _ := verify(wrong); err == nil {
			t.Fatal("a wrong code was accepted")
		}
	}
	_, err, trips = verify(f.code(secret))
	if !errors.Is(err, twostep.ErrThrottled) {
		t.Fatalf("the right code on a locked account: %v, want ErrThrottled", err)
	}
	if trips > most {
		t.Errorf("a locked account's second step took %d round trips, want at most %d", trips, most)
	}
}
