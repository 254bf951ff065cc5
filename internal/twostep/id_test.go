package twostep

import (
	crand "crypto/rand"
	"math/rand/v2"
	"regexp"
	"slices"
	"testing"
	"time"
)

// TestNewIDOrder: ids made later sort later, down to the millisecond, so that
// inserts append to their index; within one millisecond they stay unique.
func TestNewIDOrder(t *testing.T) {
	var now time.Time
	s := &Service{clock: func() time.Time { return now }, rand: crand.Reader}
	shape := regexp.MustCompile(`^ses_[2-7a-z]{26}$`)
	// Times spread over two centuries, and neighbours a millisecond apart:
	// every character of the time part takes many values.
	var times []time.Time
	for range 500 {
		at := time.UnixMilli(rand.Int64N(int64(7e12)))
		times = append(times, at, at.Add(time.Millisecond))
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	times = slices.CompactFunc(times, time.Time.Equal)
	prev := ""
	for _, at := range times {
		now = at
		id := s.newID("ses")
		if !shape.MatchString(id) {
			t.Fatalf("newID = %q, want ses_ and 26 base32 characters", id)
		}
		if id <= prev {
			t.Fatalf("id made at %v sorts before or with the one made earlier: %q <= %q", at, id, prev)
		}
		prev = id
	}
	// Within one millisecond, ids differ in their 80 random bits.
	seen := map[string]bool{}
	for range 1000 {
		id := s.newID("ses")
		if seen[id] {
			t.Fatalf("newID repeated %q within a millisecond", id)
		}
		seen[id] = true
	}
}
