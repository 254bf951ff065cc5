package twostep_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/loadgen"
	"github.com/twostep/twostep/internal/store"
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

// BenchmarkVerifySignInParallel measures second steps made at once by many
// goroutines, on SQLite, where they share write transactions, and on
// PostgreSQL (TWOSTEP_TEST_POSTGRES_URL), where each is a transaction of two
// round trips: the ceiling the HTTP server works under, without HTTP, JSON
// and a load generator on the same cores. Each operation uses its own
// account, so that each (account, step) is used once; the accounts and their
// sign-ins are made outside the timer.
func BenchmarkVerifySignInParallel(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchmarkVerifyParallel(b, storetest.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchmarkVerifyParallel(b, storetest.Postgres(b)) })
}

func benchmarkVerifyParallel(b *testing.B, db *store.DB) {
	f := newFixture(b, db, twostep.Limits{})
	ctx := context.Background()
	accounts, err := loadgen.Prepare(ctx, f.svc, "Bench", b.N, loadgen.CheapArgon2, nil)
	if err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, b.N)
	for i, a := range accounts {
		res, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: a.Email, Password: a.Password})
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = res.SignInToken
	}
	var next atomic.Int64
	b.SetParallelism(16) // 32 in flight on 2 cores, as the load generator's -c 32
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			_, err := f.svc.VerifySignIn(ctx, twostep.VerifyRequest{SignInToken: tokens[i], Method: twostep.MethodTOTP,
				Code: f.code(accounts[i].Secret)})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
