package twostep_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// strangerIP is where the attacker who knows an e-mail sends wrong passwords from.
const strangerIP = "203.0.113.66"

// lockOut sends ten wrong passwords for email from a stranger's address, which
// locks the e-mail for 30 s, and checks that the right password from a client
// the account never saw now gets the generic lock answer (RL-08).
func (f *fixture) lockOut(email string) {
	f.t.Helper()
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		_, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: email, Password: "not the password", IP: strangerIP})
		if !errors.Is(err, twostep.ErrInvalidCredentials) {
			f.t.Fatalf("wrong password %d: %v, want ErrInvalidCredentials", i+1, err)
		}
	}
	_, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: email, Password: password, IP: "198.51.100.5"})
	if !errors.Is(err, twostep.ErrThrottled) || twostep.RetryAfter(err) != 30*time.Second {
		f.t.Fatalf("right password from an unknown client after the stranger's 10: %v (retry after %v), want ErrThrottled for 30s (RL-08)",
			err, twostep.RetryAfter(err))
	}
}

// TestSignedInNotStoppedByEmailLock: a holder already signed in confirms who
// they are and changes the password while strangers keep the e-mail locked:
// the session says who they are. Their own wrong passwords there are still
// capped, per account (RL-09).
func TestSignedInNotStoppedByEmailLock(t *testing.T) { // RL-13, RL-09
	storetestBackends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.account("joe@example.com")
		c := f.caller(f.signIn("joe@example.com").SessionToken)
		f.lockOut("joe@example.com")

		token, _, err := f.svc.ConfirmIdentity(ctx, c, twostep.ConfirmRequest{Password: password})
		if err != nil {
			t.Fatalf("confirm identity while strangers lock the e-mail: %v", err)
		}
		c = f.caller(token)
		const newPassword = "a brand new passphrase"
		if err := f.svc.ChangePassword(ctx, c, password, newPassword); err != nil {
			t.Fatalf("change password while strangers lock the e-mail: %v", err)
		}

		// RL-09: a stolen session does not get unlimited guesses.
		for i := 0; i < 10; i++ {
			if _, _, err := f.svc.ConfirmIdentity(ctx, c, twostep.ConfirmRequest{Password: "wrong guess"}); !errors.Is(err, twostep.ErrInvalidCredentials) {
				t.Fatalf("wrong password %d at confirm identity: %v", i+1, err)
			}
		}
		if _, _, err := f.svc.ConfirmIdentity(ctx, c, twostep.ConfirmRequest{Password: newPassword}); !errors.Is(err, twostep.ErrThrottled) {
			t.Errorf("confirm identity after 10 wrong passwords: %v, want ErrThrottled", err)
		}
		if err := f.svc.ChangePassword(ctx, c, newPassword, "yet another passphrase"); !errors.Is(err, twostep.ErrThrottled) {
			t.Errorf("change password after 10 wrong passwords: %v, want ErrThrottled", err)
		}
	})
}

// TestUnlockClearsEmailLock: strangers' wrong passwords on a member's e-mail
// show in the members list and the member's activity, with the lock's end, and
// the admin's unlock clears that lock too, not only the second step's (RL-11).
func TestUnlockClearsEmailLock(t *testing.T) { // RL-11, RL-13
	storetestBackends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.account("owner@example.com")
		owner := f.caller(f.signIn("owner@example.com").SessionToken)
		joe := f.member("joe@example.com", twostep.RoleMember)
		f.lockOut("joe@example.com")
		end := f.clock.Now().Add(30 * time.Second)

		if got := lockedUntil(t, f, owner, joe.ID); !got.Equal(end) {
			t.Errorf("members list: joe locked until %v, want %v", got, end)
		}
		evs, err := f.db.Events(ctx, twostep.EventFilter{AccountID: joe.ID, Type: "sign_in.locked"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Detail["key"] != "email" || evs[0].Detail["until"] != end.Format(time.RFC3339) || evs[0].IP != strangerIP {
			t.Errorf("sign_in.locked events in joe's activity: %+v, want one for the e-mail until %v from %s", evs, end, strangerIP)
		}

		if err := f.svc.UnlockMember(ctx, owner, joe.ID); err != nil {
			t.Fatal(err)
		}
		if got := lockedUntil(t, f, owner, joe.ID); !got.IsZero() {
			t.Errorf("members list after unlock: joe locked until %v", got)
		}
		evs, err = f.svc.OrgEvents(ctx, owner, twostep.EventFilter{AccountID: joe.ID, Type: "account.unlocked"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].ActorID != owner.Account.ID || !cmp.Equal(evs[0].Detail["cleared"], []any{"email"}) {
			t.Errorf("account.unlocked events: %+v, want one by the owner clearing the e-mail", evs)
		}
		if _, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: password, IP: "198.51.100.5"}); err != nil {
			t.Errorf("sign-in after unlock: %v", err)
		}
	})
}

// lockedUntil returns the member's lock end as the members list shows it.
func lockedUntil(t *testing.T, f *fixture, admin *twostep.Caller, id string) time.Time {
	t.Helper()
	members, err := f.svc.Members(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if m.Account.ID == id {
			return m.LockedUntil
		}
	}
	t.Fatalf("no member %s", id)
	return time.Time{}
}

// TestPasswordThrottleIPv6Prefix: the client-address throttle counts an IPv6
// client by its /64, the block one subscriber is given, so rotating addresses
// within it does not escape; IPv4, also written IPv4-mapped, counts per address.
func TestPasswordThrottleIPv6Prefix(t *testing.T) { // RL-03
	limits := twostep.DefaultLimits
	limits.IP = twostep.Limit{Free: 3, Base: time.Minute, Max: time.Hour, PerHour: 100}
	tests := []struct {
		name   string
		wrong  []string // addresses of three wrong passwords
		then   string   // address of a right one
		locked bool
	}{
		{"IPv6 rotating within a /64", []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"}, "2001:db8:1:2:abcd::9", true},
		{"IPv6 in another /64", []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"}, "2001:db8:1:3::1", false},
		{"IPv6 with a zone", []string{"fe80::1%eth0", "fe80::2%eth0", "fe80::3%eth1"}, "fe80::4", true},
		{"IPv4 per address", []string{"192.0.2.1", "192.0.2.1", "192.0.2.1"}, "192.0.2.2", false},
		{"IPv4 same address", []string{"192.0.2.1", "192.0.2.1", "192.0.2.1"}, "192.0.2.1", true},
		{"IPv4-mapped IPv6 is the IPv4 address", []string{"::ffff:192.0.2.1", "192.0.2.1", "::ffff:192.0.2.1"}, "192.0.2.1", true},
		{"IPv4-mapped IPv6 not aggregated", []string{"::ffff:192.0.2.1", "::ffff:192.0.2.1", "::ffff:192.0.2.1"}, "::ffff:192.0.2.2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, storetest.SQLite(t), limits)
			f.account("joe@example.com")
			ctx := context.Background()
			for i, ip := range tt.wrong {
				// Each to another e-mail: only the address's count is at stake.
				email := string(rune('a'+i)) + "@example.com"
				if _, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: email, Password: "wrong password", IP: ip}); !errors.Is(err, twostep.ErrInvalidCredentials) {
					t.Fatalf("wrong password from %s: %v", ip, err)
				}
			}
			_, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: password, IP: tt.then})
			if got := errors.Is(err, twostep.ErrThrottled); got != tt.locked || (!got && err != nil) {
				t.Errorf("right password from %s: %v, want locked %v", tt.then, err, tt.locked)
			}
		})
	}
}
