package twostep

import (
	"net/netip"
	"strings"
	"time"
)

// Limit is a throttle rule: after Free consecutive failures the key is locked for
// Base, doubling with each further failure up to Max (RL-01, RL-11); PerHour
// failures within an hour lock it until the hour is over (RL-02). Failures while
// locked change nothing (RL-10); a success clears the consecutive count (RL-07).
type Limit struct {
	Free    int
	Base    time.Duration
	Max     time.Duration
	PerHour int
}

// Limits are the throttle rules the Service applies.
type Limits struct {
	Account Limit // second-step failures per account, shared by every path (RL-03)
	Email   Limit // password failures per submitted e-mail, whether or not it has an account
	IP      Limit // password failures per client address
	// Device is password failures per known device (RL-13); zero: as Email.
	Device Limit
	// Attempts is how many wrong codes one sign-in or enrolment allows (RL-06).
	Attempts int
	// PasskeyBegin caps the passwordless sign-ins begun per client address
	// (POST /api/v1/sign-in/passkey, which needs no account and stores a
	// ceremony each time); zero: DefaultLimits'.
	PasskeyBegin Cap
}

// DefaultLimits: 10 free failures then 30 s doubling to 1 h, at most 100 an hour
// per account and per e-mail; client addresses are allowed more, as many people
// may share one.
var DefaultLimits = Limits{
	Account:  Limit{Free: 10, Base: 30 * time.Second, Max: time.Hour, PerHour: 100},
	Email:    Limit{Free: 10, Base: 30 * time.Second, Max: time.Hour, PerHour: 100},
	IP:       Limit{Free: 100, Base: 30 * time.Second, Max: 15 * time.Minute, PerHour: 1000},
	Device:   Limit{Free: 10, Base: 30 * time.Second, Max: time.Hour, PerHour: 100},
	Attempts: 5,
	// A sign-in page begins one when it opens (the autofill) and again at
	// the button: a few an hour a person, so an office behind one address
	// fits in it, a flood of stored ceremonies does not.
	PasskeyBegin: Cap{Max: 600, Window: time.Hour},
}

// Locked reports whether t is locked at now and for how much longer.
func (t Throttle) Locked(now time.Time) (time.Duration, bool) {
	if now.Before(t.LockedUntil) {
		return t.LockedUntil.Sub(now), true
	}
	return 0, false
}

// Fail returns t after one more failure at now.
func (l Limit) Fail(t Throttle, now time.Time) Throttle {
	if _, locked := t.Locked(now); locked {
		return t
	}
	t.Failures++
	if t.HourStart.IsZero() || now.Sub(t.HourStart) >= time.Hour {
		t.HourStart, t.HourFailures = now, 0
	}
	t.HourFailures++
	if l.Free > 0 && t.Failures >= l.Free {
		d := l.Base
		for i := l.Free; i < t.Failures && d < l.Max; i++ {
			d *= 2
		}
		t.LockedUntil = now.Add(min(d, l.Max))
	}
	if l.PerHour > 0 && t.HourFailures >= l.PerHour {
		if end := t.HourStart.Add(time.Hour); end.After(t.LockedUntil) {
			t.LockedUntil = end
		}
	}
	return t
}

// Succeed returns t after a success: consecutive failures are forgiven, the hourly
// count is kept.
func (l Limit) Succeed(t Throttle) Throttle {
	t.Failures = 0
	return t
}

// Cap allows at most Max events per fixed Window, counted in a Throttle's
// window fields: a sending quota rather than a failure count.
type Cap struct {
	Max    int
	Window time.Duration
}

// Take returns t with one more event at now, or ok false and how long until the
// window frees a place when the cap is reached. A zero Max never trips.
func (c Cap) Take(t Throttle, now time.Time) (after Throttle, wait time.Duration, ok bool) {
	if c.Max <= 0 {
		return t, 0, true
	}
	if t.HourStart.IsZero() || now.Sub(t.HourStart) >= c.Window {
		t.HourStart, t.HourFailures = now, 0
	}
	if t.HourFailures >= c.Max {
		return t, t.HourStart.Add(c.Window).Sub(now), false
	}
	t.HourFailures++
	return t, 0, true
}

// ipKey is the client-address throttle key. IPv6 addresses count by their /64,
// the block a single subscriber is usually given, since rotating within it costs
// nothing; IPv4 (also written as IPv4-mapped IPv6) counts per address. Anything
// that is not an address counts as it is.
func ipKey(ip string) string {
	addr, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return "ip:" + ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return "ip:" + addr.String()
	}
	prefix, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return "ip:" + ip
	}
	return "ip:" + prefix.String()
}
