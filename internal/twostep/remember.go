package twostep

import (
	"context"
	"slices"
	"time"
)

// MaxRememberDeviceDays bounds a policy's RememberDeviceDays (API.md §11).
const MaxRememberDeviceDays = 90

// Remembers reports whether the device spares its account the second step
// now under policy p: the member asked for it at a sign-in that proved the
// second step, and it is before RememberedUntilUnder(p).
func (d *Device) Remembers(p Policy, now time.Time) bool {
	return d != nil && now.Before(d.RememberedUntilUnder(p))
}

// RememberedUntilUnder returns until when the device spares the second step
// under policy p, zero when it does not: the earlier of the limit set when it
// was remembered and the policy's days counted from then. Lowering the
// policy's days shortens every remembered device at once; 0 ends them all.
func (d *Device) RememberedUntilUnder(p Policy) time.Time {
	if d.RememberedAt.IsZero() || p.RememberDeviceDays <= 0 {
		return time.Time{}
	}
	limit := d.RememberedAt.Add(time.Duration(min(p.RememberDeviceDays, MaxRememberDeviceDays)) * 24 * time.Hour)
	if d.RememberedUntil.Before(limit) {
		return d.RememberedUntil
	}
	return limit
}

// signInRemembered reports whether a sign-in of org's member from device dev
// (nil: none known) may skip the second step because dev is remembered. What
// the person signs in for may ask for more: an OpenID Connect request for
// two-step (acr_values, a client that requires it) or for a fresh sign-in
// (max_age, prompt=login) is an explicit step-up, which a remembered device
// never satisfies (API.md §11).
func (s *Service) signInRemembered(ctx context.Context, dev *Device, org *Org, authRequestID string) bool {
	if !dev.Remembers(org.Policy, s.now()) {
		return false
	}
	if authRequestID == "" {
		return true
	}
	r, cl, err := s.liveAuthRequest(ctx, authRequestID)
	if err != nil {
		return true // no live request: nothing asks for more than the policy
	}
	return !r.wantsTwoStep(cl) && r.MaxAge < 0 && !slices.Contains(r.Prompt, "login")
}

// rememberDevice marks dev, the device of a sign-in that has just proven its
// second step, as remembered for the organisation's RememberDeviceDays, inside
// tx. It does nothing when the policy has it off. The first time the device is
// remembered (again), the member gets a notice, and the audit says which device.
// It returns when the device stops being remembered (zero when it is not).
func (s *Service) rememberDevice(ctx context.Context, tx Store, a *Account, org *Org, dev *Device, c *Caller) (time.Time, error) {
	days := min(org.Policy.RememberDeviceDays, MaxRememberDeviceDays)
	if dev == nil || days <= 0 {
		return time.Time{}, nil
	}
	now := s.now()
	already := dev.Remembers(org.Policy, now)
	until := now.Add(time.Duration(days) * 24 * time.Hour)
	ok, err := tx.RememberDevice(ctx, a.ID, dev.ID, now, until)
	if err != nil || !ok {
		return time.Time{}, err
	}
	dev.RememberedAt, dev.RememberedUntil = now, until
	if already {
		return until, nil // renewed: nothing new to tell
	}
	ag := s.agent(dev.UserAgent)
	detail := &DeviceRemembered{Device: dev.ID, Until: until.UTC().Format(time.RFC3339), Days: days,
		Browser: ag.Browser, Platform: ag.Platform}
	if err := s.audit(ctx, tx, event{detail: detail, account: a, caller: c}); err != nil {
		return time.Time{}, err
	}
	return until, s.notice(ctx, tx, a, "device_remembered", map[string]string{
		"browser": ag.Browser, "platform": ag.Platform, "ip": dev.IP, "until": until.UTC().Format("2006-01-02"), "days": itoa(days)})
}
