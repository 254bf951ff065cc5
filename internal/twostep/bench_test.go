package twostep_test

import (
	"context"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// BenchmarkVerifySignIn measures the second step alone on SQLite: one sign-in
// token and one fresh TOTP step per operation, as replay protection demands.
// The sign-ins are made outside the timer. For throughput under concurrency,
// use the load generator against a running server.
func BenchmarkVerifySignIn(b *testing.B) {
	f := newFixture(b, storetest.SQLite(b), twostep.Limits{})
	f.account("joe@example.com")
	secret, _ := f.enrol("joe@example.com")
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		// Each operation is a new time step: the clock moves 30 s.
		f.clock.Advance(30 * time.Second)
		token := f.signIn("joe@example.com").SignInToken
		b.StartTimer()
		_, err := f.svc.VerifySignIn(ctx, twostep.VerifyRequest{SignInToken: token, Method: twostep.MethodTOTP, Code: f.code(secret)})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignIn measures the password step with the production argon2id
// parameters (m=19456 KiB, t=2, p=1).
func BenchmarkSignIn(b *testing.B) {
	f := newFixtureArgon(b, storetest.SQLite(b), twostep.Limits{}, twostep.DefaultArgon2)
	f.account("joe@example.com")
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: password}); err != nil {
			b.Fatal(err)
		}
	}
}
