package twostep

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PendingAction is a change kept while its session confirms who it is
// (GitHub's sudo mode): the request to carry on with afterwards, instead of
// asking the person to do it again. Form holds the submitted values, never a
// password or a code (whoever keeps it strips them).
type PendingAction struct {
	ID        string
	SessionID string
	Method    string // GET or POST
	Path      string // a path on this site
	Form      string // URL-encoded form values
	CreatedAt time.Time
	ExpiresAt time.Time
}

// maxPendingForm bounds what a pending action keeps (a form of the pages is
// far smaller).
const maxPendingForm = 8 << 10

// KeepPendingAction keeps the request method path form of the caller's
// session while it confirms who it is, for the confirmation window, and
// returns its id. An *InvalidError when the form is too large to keep;
// ErrForbidden for a caller without a session of its own.
func (s *Service) KeepPendingAction(ctx context.Context, c *Caller, method, path, form string) (string, error) {
	if err := requireOwnSession(c); err != nil {
		return "", err
	}
	if method != "GET" && method != "POST" || !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || len(path) > 2048 {
		return "", fmt.Errorf("twostep: %s %.40q is no request of this site to carry on", method, path)
	}
	if len(form) > maxPendingForm {
		return "", invalid("form", ReasonTooLong, "Max", strconv.Itoa(maxPendingForm))
	}
	now := s.now()
	p := &PendingAction{ID: s.newID("pnd"), SessionID: c.Session.ID, Method: method, Path: path, Form: form,
		CreatedAt: now, ExpiresAt: now.Add(s.confirmWindow)}
	if err := s.store.CreatePendingAction(ctx, p); err != nil {
		return "", err
	}
	return p.ID, nil
}

// PendingAction returns the caller's live pending action id, for the
// confirmation page to say what is being confirmed; ErrNotFound when the
// caller's session has none such, or it expired.
func (s *Service) PendingAction(ctx context.Context, c *Caller, id string) (*PendingAction, error) {
	if c.Session == nil || id == "" {
		return nil, ErrNotFound
	}
	p, err := s.store.PendingAction(ctx, id, c.Session.ID)
	if err != nil {
		return nil, err
	}
	if !s.now().Before(p.ExpiresAt) {
		return nil, ErrNotFound
	}
	return p, nil
}

// TakePendingAction hands the caller's pending action id over once, to carry
// it on now that the session is confirmed: ErrConfirmIdentity while it is not
// (SU-01: the action itself still checks), ErrNotFound when the session has
// no such live action (another session's, taken, expired).
func (s *Service) TakePendingAction(ctx context.Context, c *Caller, id string) (*PendingAction, error) {
	if err := s.requireConfirmed(c); err != nil {
		return nil, err
	}
	return s.store.TakePendingAction(ctx, id, c.Session.ID, s.now())
}

// ConfirmWindow is how long an identity confirmation lets sensitive changes
// through (TWOSTEP_CONFIRM_WINDOW).
func (s *Service) ConfirmWindow() time.Duration { return s.confirmWindow }
