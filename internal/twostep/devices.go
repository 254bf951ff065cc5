package twostep

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// Device is a client that signed in to an account before: OWASP's "device
// cookie". Every successful sign-in gives its client a device token (the pages
// keep it in a cookie, programs get device_token), which is stored only hashed
// and which the client sends back with later sign-ins. A sign-in presenting the
// live token of a device of the account whose e-mail it names is judged by that
// device's own password throttle instead of the e-mail's and the client
// address's: strangers who lock an e-mail with wrong passwords do not lock out
// the devices its owner already uses, and a device's own wrong passwords lock
// only that device (RL-13). A device unused for DeviceIdle expires.
type Device struct {
	ID         string
	AccountID  string
	TokenHash  []byte
	CreatedAt  time.Time
	LastUsedAt time.Time // the last sign-in from it
	ExpiresAt  time.Time
	IP         string // of the last sign-in
	UserAgent  string
	// RememberedAt and RememberedUntil are set while the member asked that
	// this device skip the second step (see Remembered); zero otherwise.
	RememberedAt    time.Time
	RememberedUntil time.Time
}

// DeviceIdle is how long a device record lives after its last sign-in.
const DeviceIdle = 90 * 24 * time.Hour

func deviceKey(id string) string { return "device:" + id }

// reauthKey counts the wrong passwords of a signed-in caller confirming who they
// are or changing the password. The session already says which account it is,
// so those are counted per account rather than per e-mail: a lock that strangers
// caused on the e-mail must not stop the holder here, and a stolen session still
// gets only as many guesses as the e-mail would (RL-09).
func reauthKey(accountID string) string { return "reauth:" + accountID }

// passwordLimit returns the rule and the metric name of a password throttle key.
func (s *Service) passwordLimit(key string) (Limit, string) {
	switch {
	case strings.HasPrefix(key, "ip:"):
		return s.limits.IP, "ip"
	case strings.HasPrefix(key, "device:"):
		return s.limits.Device, "device"
	case strings.HasPrefix(key, "reauth:"):
		return s.limits.Email, "reauth"
	}
	return s.limits.Email, "email"
}

// knownDevice returns the live device that token opens when it belongs to acct,
// nil otherwise: no token, an unknown or expired one, another account's, or no
// account at all. The lookup happens whenever a token is given, so that a token
// for another account or none costs the same time as no match (EN-02).
func (s *Service) knownDevice(ctx context.Context, token string, acct *Account) (*Device, error) {
	if token == "" {
		return nil, nil
	}
	d, err := s.store.DeviceByToken(ctx, HashToken(token))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if acct == nil || d.AccountID != acct.ID || !s.now().Before(d.ExpiresAt) {
		return nil, nil
	}
	return d, nil
}

// issueDevice returns the device token, and the device record, for the client
// of a sign-in that has just succeeded. The device it presented
// (c.DeviceToken), if still live and of the same account, gets a new token, as
// a session does after each step, and stays remembered if it was; any other
// client gets a new device record.
func (s *Service) issueDevice(ctx context.Context, tx Store, a *Account, c *Caller) (string, *Device, error) {
	now := s.now()
	token, hash := s.newToken()
	d := &Device{AccountID: a.ID, TokenHash: hash, LastUsedAt: now, ExpiresAt: now.Add(DeviceIdle)}
	if c != nil {
		d.IP, d.UserAgent = c.IP, truncate(c.UserAgent, 512)
		if c.DeviceToken != "" {
			renewed, err := tx.RenewDevice(ctx, HashToken(c.DeviceToken), d)
			if err != nil || renewed {
				return token, d, err
			}
		}
	}
	d.ID, d.CreatedAt = s.newID("dev"), now
	return token, d, tx.CreateDevice(ctx, d)
}

// lockKeys lists every throttle key whose lock keeps the account's holder out:
// second-step failures, password failures on its e-mail, on its signed-in
// confirmations, and on each of its devices.
func (s *Service) lockKeys(ctx context.Context, st Store, a *Account) ([]string, error) {
	devices, err := st.Devices(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	keys := []string{accountKey(a.ID), emailKey(NormalizeEmail(a.Email)), reauthKey(a.ID)}
	for _, d := range devices {
		keys = append(keys, deviceKey(d.ID))
	}
	return keys, nil
}

// lockedUntil returns when the last of the account's locks ends, whichever key
// holds it; zero when none is locked now.
func (s *Service) lockedUntil(ctx context.Context, st Store, a *Account) (time.Time, error) {
	keys, err := s.lockKeys(ctx, st, a)
	if err != nil {
		return time.Time{}, err
	}
	ts, err := st.Throttles(ctx, keys)
	if err != nil {
		return time.Time{}, err
	}
	now := s.now()
	var until time.Time
	for _, t := range ts {
		if _, locked := t.Locked(now); locked && t.LockedUntil.After(until) {
			until = t.LockedUntil
		}
	}
	return until, nil
}

// unlock clears every lock of the account inside tx and returns the kinds of
// key it cleared (RL-11, RL-13).
func (s *Service) unlock(ctx context.Context, tx Store, a *Account) ([]string, error) {
	keys, err := s.lockKeys(ctx, tx, a)
	if err != nil {
		return nil, err
	}
	ts, err := tx.Throttles(ctx, keys)
	if err != nil {
		return nil, err
	}
	cleared := []string{}
	for _, t := range ts {
		if t.Failures == 0 && t.LockedUntil.IsZero() {
			continue
		}
		t, err := tx.LockThrottle(ctx, t.Key)
		if err != nil {
			return nil, err
		}
		t.Failures, t.LockedUntil = 0, time.Time{}
		if err := tx.PutThrottle(ctx, t); err != nil {
			return nil, err
		}
		if kind, _, _ := strings.Cut(t.Key, ":"); !slices.Contains(cleared, kind) {
			cleared = append(cleared, kind)
		}
	}
	return cleared, nil
}

// auditLocks records, in the activity of the caller's account, each lock just
// started on one of its password keys and when it ends. A client address's
// lock is no lock of the account and is left out.
func (s *Service) auditLocks(ctx context.Context, tx Store, locks []Throttle, c *Caller) error {
	for _, t := range locks {
		_, kind := s.passwordLimit(t.Key)
		if kind == "ip" {
			continue
		}
		detail := &SignInLocked{Key: kind, Until: t.LockedUntil.UTC().Format(time.RFC3339),
			Seconds: int(t.LockedUntil.Sub(s.now()).Seconds())}
		if err := s.audit(ctx, tx, event{detail: detail, account: c.Account, caller: c}); err != nil {
			return err
		}
	}
	return nil
}
