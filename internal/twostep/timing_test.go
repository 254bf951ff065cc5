package twostep_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestEnumerationTiming: with the production argon2 parameters, a sign-in with
// an unknown e-mail and one with a wrong password take the same time: a
// two-sample Kolmogorov–Smirnov test over 200 samples each does not tell them
// apart at α = 0.001, with one re-run allowed (EN-02).
func TestEnumerationTiming(t *testing.T) { // EN-02
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("slow: 400 argon2 hashes")
	}
	loose := twostep.Limit{Free: 1 << 30}
	f := newFixtureArgon(t, storetest.SQLite(t), twostep.Limits{Account: loose, Email: loose, IP: loose, Attempts: 5}, twostep.DefaultArgon2)
	f.account("joe@example.com")
	ctx := context.Background()
	sample := func(email string) time.Duration {
		start := time.Now()
		_, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: email, Password: "not the password", IP: "192.0.2.1"})
		d := time.Since(start)
		if !errors.Is(err, twostep.ErrInvalidCredentials) {
			t.Fatalf("%s: %v", email, err)
		}
		return d
	}
	for try := 1; try <= 2; try++ {
		var known, unknown []float64
		// Interleaved in a random order, so that drift and garbage collection
		// (each hash allocates 19 MiB) fall on both alike.
		for i := 0; i < 200; i++ {
			if rand.N(2) == 0 {
				known = append(known, float64(sample("moe@example.com")))
				unknown = append(unknown, float64(sample("nobody@example.com")))
			} else {
				unknown = append(unknown, float64(sample("nobody@example.com")))
				known = append(known, float64(sample("moe@example.com")))
			}
		}
		d := ksStatistic(known, unknown)
		critical := 1.949 * math.Sqrt(float64(len(known)+len(unknown))/float64(len(known)*len(unknown))) // α = 0.001
		t.Logf("try %d: KS D = %.3f (critical %.3f); medians %v vs %v", try, d, critical,
			time.Duration(median(known)), time.Duration(median(unknown)))
		if d < critical {
			return
		}
	}
	t.Error("unknown e-mails and wrong passwords take distinguishable times")
}

// TestPasswordResetTiming: asking for a reset link for an unknown e-mail and
// for an account's take the same time, by the same test as above (EN-02):
// unknown addresses used to answer before any write, in 0.49 ms against
// 0.67 ms. The clock moves an hour before each request, so that every one
// passes the hourly cap and does the whole work.
func TestPasswordResetTiming(t *testing.T) { // EN-02
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("slow: 800 timed requests")
	}
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	f.account("joe@example.com")
	ctx := context.Background()
	// The unknown address has the same length as the known one: checking an
	// address takes time with its length, which tells nothing.
	const known, unknown = "joe@example.com", "zoe@example.com"
	sample := func(email string) float64 {
		f.clock.Advance(time.Hour)
		// An hour on, as the housekeeping of serve does, expired links go.
		if err := f.db.DeleteExpired(ctx, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err := f.svc.RequestPasswordReset(ctx, email, &twostep.Caller{IP: "192.0.2.1"})
		d := time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v", email, err)
		}
		f.svc.Wait() // what the answer did not wait for must not overlap the next sample
		return float64(d)
	}
	for i := 0; i < 20; i++ { // warm up both paths
		sample(known)
		sample(unknown)
	}
	for try := 1; try <= 2; try++ {
		// In a random order rather than in pairs: the work of one request
		// leaves the machine warmer or colder for the next, and in pairs the
		// second would always come after the other kind.
		order := append(slices.Repeat([]string{known}, 200), slices.Repeat([]string{unknown}, 200)...)
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		times := map[string][]float64{}
		for _, email := range order {
			times[email] = append(times[email], sample(email))
		}
		d := ksStatistic(times[known], times[unknown])
		critical := 1.949 * math.Sqrt(float64(len(order))/float64(200*200)) // α = 0.001
		t.Logf("try %d: KS D = %.3f (critical %.3f); medians %v vs %v", try, d, critical,
			time.Duration(median(times[known])), time.Duration(median(times[unknown])))
		if d < critical {
			return
		}
	}
	t.Error("reset requests for unknown e-mails and for accounts take distinguishable times")
}

// ksStatistic is the largest distance between the two samples' empirical
// distribution functions.
func ksStatistic(a, b []float64) float64 {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	var i, j int
	var d float64
	for i < len(a) && j < len(b) {
		x := min(a[i], b[j])
		for i < len(a) && a[i] <= x {
			i++
		}
		for j < len(b) && b[j] <= x {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	return d
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
