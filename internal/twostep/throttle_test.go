package twostep

import (
	"strings"
	"testing"
	"time"
)

func TestLimitBackoff(t *testing.T) { // RL-01, RL-10, RL-11
	l := Limit{Free: 10, Base: 30 * time.Second, Max: time.Hour, PerHour: 100}
	now := time.Unix(1700000000, 0)
	var th Throttle
	for i := 1; i < 10; i++ {
		th = l.Fail(th, now)
		if _, locked := th.Locked(now); locked {
			t.Fatalf("locked after %d failures, want free until 10", i)
		}
	}
	// The 10th failure locks for 30 s, and each failure after a lock doubles it, up to 1 h.
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		th = l.Fail(th, now)
		wait, locked := th.Locked(now)
		if !locked || wait != w {
			t.Fatalf("failure %d: locked %v for %v, want %v", 10+i, locked, wait, w)
		}
		// RL-10: failures while locked neither extend nor count.
		again := l.Fail(th, now.Add(time.Second))
		if again != th {
			t.Fatalf("failure while locked changed the throttle: %+v → %+v", th, again)
		}
		now = th.LockedUntil
	}
	if _, locked := th.Locked(th.LockedUntil); locked {
		t.Error("still locked when the lock ends")
	}
	// RL-07: a success forgives consecutive failures.
	th = l.Succeed(th)
	th = l.Fail(th, now)
	if _, locked := th.Locked(now); locked {
		t.Error("one failure after a success locks")
	}
}

func TestLimitPerHour(t *testing.T) { // RL-02
	l := Limit{Free: 1000, Base: time.Second, Max: time.Second, PerHour: 100}
	start := time.Unix(1700000000, 0)
	var th Throttle
	for i := 0; i < 99; i++ {
		th = l.Fail(th, start.Add(time.Duration(i)*time.Second))
	}
	if _, locked := th.Locked(start.Add(99 * time.Second)); locked {
		t.Fatal("locked before 100 failures in the hour")
	}
	th = l.Fail(th, start.Add(99*time.Second))
	wait, locked := th.Locked(start.Add(99 * time.Second))
	if !locked || th.LockedUntil != start.Add(time.Hour) {
		t.Fatalf("after 100 failures: locked %v for %v, want until the hour ends", locked, wait)
	}
	// A new hour starts a new count.
	th = l.Fail(th, start.Add(time.Hour))
	if th.HourFailures != 1 {
		t.Errorf("new hour counts %d failures, want 1", th.HourFailures)
	}
}

func TestClientVersionLess(t *testing.T) {
	tests := []struct {
		a, b string
		less bool
	}{
		{"3.9.2", "3.10.0", true},
		{"3.10.0", "3.9.2", false},
		{"3.1", "3.1.0", false},
		{"3.1.0", "3.1", false},
		{"3", "3.0.1", true},
		{"10.0", "9.99.99", false},
		{"1.2.3.4", "1.2.3.5", true},
	}
	for _, tc := range tests {
		a, err := ParseClientVersion("v", tc.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseClientVersion("v", tc.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Less(b); got != tc.less {
			t.Errorf("%s < %s = %v, want %v", tc.a, tc.b, got, tc.less)
		}
	}
	for _, bad := range []string{"", "v3", "3.", ".3", "3..1", "3.1.0-beta", "1.2.3.4.5", "-1", "+1", "3.1 ", "1234567890"} {
		if _, err := ParseClientVersion("client_version", bad); err == nil {
			t.Errorf("%q parsed, want an error", bad)
		}
	}
}

func TestRecoveryCodeForm(t *testing.T) { // RC-01
	code, err := newRecoveryCode(fixedReader(0xA5))
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != 19 || strings.Count(code, "-") != 3 {
		t.Errorf("code %q is not xxxx-xxxx-xxxx-xxxx", code)
	}
	for _, typed := range []string{code, strings.ToUpper(code), strings.ReplaceAll(code, "-", " "), strings.ReplaceAll(code, "-", "")} {
		if normalizeRecoveryCode(typed) != normalizeRecoveryCode(code) || normalizeRecoveryCode(code) == "" {
			t.Errorf("%q does not read as %q", typed, code)
		}
	}
}

type fixedReader byte

func (f fixedReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(f)
	}
	return len(p), nil
}
