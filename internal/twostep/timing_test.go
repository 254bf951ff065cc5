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
				known = append(known, float64(sample("joe@example.com")))
				unknown = append(unknown, float64(sample("nobody@example.com")))
			} else {
				unknown = append(unknown, float64(sample("nobody@example.com")))
				known = append(known, float64(sample("joe@example.com")))
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
