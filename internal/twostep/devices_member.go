package twostep

import (
	"cmp"
	"context"
	"slices"
)

// Why a device was forgotten, as DeviceForgotten.Why says it.
const (
	ForgotByMember       = "member"         // the member removed it, or all of them
	ForgotPasswordChange = "password"       // the password was changed, reset or set by link
	ForgotFactorRemoved  = "factor_removed" // a second-step method was removed
	ForgotResetByAdmin   = "reset_by_admin" // an administrator reset the member's two-step
	ForgotSessionsEnded  = "sessions_ended" // an administrator ended the member's sessions
)

// requireOwnSession returns nil when the caller acts through a session of
// their own: not a sign-in token (which only enrols), nor a session an app
// password made (which reaches no security setting).
func requireOwnSession(c *Caller) error {
	if c.Session == nil {
		if c.SignIn != nil {
			return ErrForbidden
		}
		return ErrUnauthenticated
	}
	return notAppPassword(c)
}

// MemberDevices returns the caller's devices that still work, the most
// recently used first: what the member sees under "Your devices".
func (s *Service) MemberDevices(ctx context.Context, c *Caller) ([]*Device, error) {
	if err := requireOwnSession(c); err != nil {
		return nil, err
	}
	all, err := s.store.Devices(ctx, c.Account.ID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := []*Device{}
	for _, d := range all {
		if now.Before(d.ExpiresAt) {
			out = append(out, d)
		}
	}
	slices.SortStableFunc(out, func(a, b *Device) int { return cmp.Compare(b.LastUsedAt.UnixMicro(), a.LastUsedAt.UnixMicro()) })
	return out, nil
}

// ForgetDevice removes one of the caller's devices: that browser or app is a
// stranger from then on, asked for the second step and subject to the locks
// others cause (RL-13). ErrNotFound when the caller has no such device.
func (s *Service) ForgetDevice(ctx context.Context, c *Caller, id string) error {
	if err := requireOwnSession(c); err != nil {
		return err
	}
	return s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		ok, err := tx.DeleteDevice(ctx, c.Account.ID, id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		return s.audit(ctx, tx, event{detail: &DeviceForgotten{Device: id, Count: 1, Why: ForgotByMember}, account: c.Account, caller: c})
	})
}

// ForgetAllDevices removes every device of the caller, this one included,
// and returns how many there were.
func (s *Service) ForgetAllDevices(ctx context.Context, c *Caller) (int, error) {
	if err := requireOwnSession(c); err != nil {
		return 0, err
	}
	var n int
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		var err error
		if n, err = tx.DeleteDevices(ctx, c.Account.ID); err != nil || n == 0 {
			return err
		}
		return s.audit(ctx, tx, event{detail: &DeviceForgotten{Count: n, Why: ForgotByMember}, account: c.Account, caller: c})
	})
	return n, err
}

// forgetDevices ends, inside tx, the remembering of every device of a, for
// why (one of the Forgot constants), and audits it when there was any. The
// device records stay: a device that is no longer remembered still keeps its
// member out of the locks strangers cause (RL-13).
func (s *Service) forgetDevices(ctx context.Context, tx Store, a *Account, why, actorID string, c *Caller) error {
	n, err := tx.ForgetDevices(ctx, a.ID, s.now())
	if err != nil || n == 0 {
		return err
	}
	return s.audit(ctx, tx, event{detail: &DeviceForgotten{Count: n, Why: why}, account: a, actorID: actorID, caller: c})
}
