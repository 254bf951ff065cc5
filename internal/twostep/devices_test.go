package twostep_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestKnownDeviceThroughEmailLock: a stranger locks an e-mail with ten wrong
// passwords; the device its holder signed in from before still signs in with
// the right password (RL-13), while any other client, whatever device token it
// shows, gets the same generic lock answer as before, even for the right
// password (RL-08, EN-01).
func TestKnownDeviceThroughEmailLock(t *testing.T) { // RL-13, RL-08, EN-01
	storetestBackends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.account("joe@example.com")
		f.account("ann@example.com")
		joeDevice := f.signIn("joe@example.com").DeviceToken
		annDevice := f.signIn("ann@example.com").DeviceToken
		if joeDevice == "" || annDevice == "" {
			t.Fatal("a successful sign-in gave no device token")
		}
		f.lockOut("joe@example.com")

		signIn := func(device, pw string) (*twostep.SignInResult, error) {
			return f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: pw, IP: "198.51.100.5", DeviceToken: device})
		}
		for name, device := range map[string]string{
			"another account's device": annDevice,
			"an unknown device token":  "not-a-device-token",
			"no device token":          "",
		} {
			if _, err := signIn(device, password); !errors.Is(err, twostep.ErrThrottled) || twostep.RetryAfter(err) != 30*time.Second {
				t.Errorf("%s with the right password: %v, want the generic lock answer (RL-08)", name, err)
			}
		}

		res, err := signIn(joeDevice, password)
		if err != nil || res.Status != twostep.StatusSignedIn {
			t.Fatalf("joe's own device with the right password while the e-mail is locked: %+v, %v", res, err)
		}
		// Each sign-in gives the device a new token, as a session gets; the old one is spent.
		if res.DeviceToken == "" || res.DeviceToken == joeDevice {
			t.Errorf("device token after the sign-in: %q, want a new one", res.DeviceToken)
		}
		if _, err := signIn(joeDevice, password); !errors.Is(err, twostep.ErrThrottled) {
			t.Errorf("the device's previous token: %v, want the generic lock answer", err)
		}
		devices, err := f.db.Devices(ctx, res.Account.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(devices) != 1 || devices[0].IP != "198.51.100.5" {
			t.Errorf("joe's devices: %+v, want the one device, renewed from 198.51.100.5", devices)
		}
		if th, _ := f.db.Throttle(ctx, "email:joe@example.com"); th.Failures != 10 {
			t.Errorf("e-mail failures after the device's sign-in: %d, want the stranger's 10 kept", th.Failures)
		}
	})
}

// TestDeviceLocksOnlyItself: a known device's own wrong passwords count against
// that device alone (not the e-mail, not its address); the members list shows
// its lock; the admin's unlock clears it (RL-11, RL-13).
func TestDeviceLocksOnlyItself(t *testing.T) { // RL-13, RL-11
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	ctx := context.Background()
	f.account("owner@example.com")
	owner := f.caller(f.signIn("owner@example.com").SessionToken)
	joe := f.member("joe@example.com", twostep.RoleMember)
	device := f.signIn("joe@example.com").DeviceToken
	signIn := func(device, pw string) (*twostep.SignInResult, error) {
		return f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: pw, IP: "192.0.2.1", DeviceToken: device})
	}
	for i := 0; i < 10; i++ {
		if _, err := signIn(device, "not the password"); !errors.Is(err, twostep.ErrInvalidCredentials) {
			t.Fatalf("wrong password %d from the device: %v", i+1, err)
		}
	}
	if _, err := signIn(device, password); !errors.Is(err, twostep.ErrThrottled) {
		t.Errorf("the device after its own 10 wrong passwords: %v, want ErrThrottled", err)
	}
	for _, key := range []string{"email:joe@example.com", "ip:192.0.2.1"} {
		if th, _ := f.db.Throttle(ctx, key); th.Failures != 0 {
			t.Errorf("%s counted %d of the device's failures", key, th.Failures)
		}
	}
	if _, err := signIn("", password); err != nil {
		t.Fatalf("another client of joe's while his device is locked: %v", err)
	}
	if got, want := lockedUntil(t, f, owner, joe.ID), f.clock.Now().Add(30*time.Second); !got.Equal(want) {
		t.Errorf("members list: joe locked until %v, want the device's lock until %v", got, want)
	}
	if err := f.svc.UnlockMember(ctx, owner, joe.ID); err != nil {
		t.Fatal(err)
	}
	if got := lockedUntil(t, f, owner, joe.ID); !got.IsZero() {
		t.Errorf("members list after unlock: locked until %v", got)
	}
	if _, err := signIn(device, password); err != nil {
		t.Errorf("the device after unlock: %v", err)
	}
}

// TestDeviceThroughSecondStep: the device token given at the password step
// comes back with the second step; the sign-in then renews that device instead
// of adding one. A device unused for 90 days expires, and housekeeping
// removes it.
func TestDeviceThroughSecondStep(t *testing.T) { // RL-13
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	ctx := context.Background()
	acct := f.account("joe@example.com")
	secret, _ := f.enrol("joe@example.com") // the first device, from the sign-in before enrolment
	devices := func() []*twostep.Device {
		t.Helper()
		ds, err := f.db.Devices(ctx, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	first := devices()
	if len(first) != 1 {
		t.Fatalf("devices after the first sign-in: %d, want 1", len(first))
	}

	res, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: password, IP: "192.0.2.1"})
	if err != nil || res.Status != twostep.StatusSecondStep || res.DeviceToken != "" {
		t.Fatalf("password step: %+v, %v; want second_step without a device token", res, err)
	}
	done, err := f.svc.VerifySignIn(ctx, twostep.VerifyRequest{SignInToken: res.SignInToken, Method: twostep.MethodTOTP,
		Code: f.code(secret), IP: "192.0.2.1"})
	if err != nil || done.DeviceToken == "" {
		t.Fatalf("second step without a device token: %+v, %v; want a new device token", done, err)
	}
	if n := len(devices()); n != 2 {
		t.Fatalf("devices after a sign-in from a new client: %d, want 2", n)
	}
	token := done.DeviceToken

	f.clock.Advance(30 * time.Second)
	res, err = f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: password, IP: "192.0.2.1", DeviceToken: token})
	if err != nil {
		t.Fatal(err)
	}
	done, err = f.svc.VerifySignIn(ctx, twostep.VerifyRequest{SignInToken: res.SignInToken, Method: twostep.MethodTOTP,
		Code: f.code(secret), IP: "192.0.2.1", DeviceToken: token})
	if err != nil || done.DeviceToken == "" || done.DeviceToken == token {
		t.Fatalf("second step from a known device: %+v, %v; want its token renewed", done, err)
	}
	if n := len(devices()); n != 2 {
		t.Errorf("devices after a sign-in from a known device: %d, want still 2", n)
	}

	// 90 days idle: the token is no longer known, and housekeeping removes the record.
	f.clock.Advance(twostep.DeviceIdle + time.Second)
	f.lockOut("joe@example.com")
	_, err = f.svc.SignIn(ctx, twostep.SignInRequest{Email: "joe@example.com", Password: password, IP: "192.0.2.1", DeviceToken: done.DeviceToken})
	if !errors.Is(err, twostep.ErrThrottled) {
		t.Errorf("an expired device during a lock: %v, want ErrThrottled", err)
	}
	if err := f.db.DeleteExpired(ctx, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if n := len(devices()); n != 0 {
		t.Errorf("devices after housekeeping: %d, want 0", n)
	}
}
