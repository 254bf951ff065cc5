package twostep

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Sentinel errors returned by the Service and the Store. The web layer maps each to
// one status and error code; anything else is an internal error.
var (
	ErrInvalidCredentials    = errors.New("twostep: invalid credentials")
	ErrInvalidCode           = errors.New("twostep: invalid code")
	ErrExpired               = errors.New("twostep: expired")
	ErrThrottled             = errors.New("twostep: too many attempts")
	ErrResendTooSoon         = errors.New("twostep: resend too soon")
	ErrConfirmIdentity       = errors.New("twostep: identity confirmation required")
	ErrClientUpgrade         = errors.New("twostep: client upgrade required")
	ErrSSOManaged            = errors.New("twostep: account signs in through SSO")
	ErrPolicyRequiresTwoStep = errors.New("twostep: organisation policy requires two-step verification")
	ErrMethodNotAllowed      = errors.New("twostep: method not allowed by policy")
	ErrNotFound              = errors.New("twostep: not found")
	ErrForbidden             = errors.New("twostep: forbidden")
	ErrUnauthenticated       = errors.New("twostep: unauthenticated")
	ErrConflict              = errors.New("twostep: conflict")
	ErrDeliveryFailed        = errors.New("twostep: delivery failed")
	ErrUnavailable           = errors.New("twostep: unavailable")
	// ErrBusy means too many password hashes are queued; retry shortly.
	ErrBusy = errors.New("twostep: busy")
	// ErrEnrolmentRequired is ErrPolicyRequiresTwoStep for a sign-in that must
	// set up a method before it gets a session (API.md §3.1: 403, where removing
	// the last method is a 409 conflict).
	ErrEnrolmentRequired = fmt.Errorf("%w: set up a method to finish signing in", ErrPolicyRequiresTwoStep)
	// ErrLastOwner is ErrConflict for a change that would leave the
	// organisation without an owner who can sign in.
	ErrLastOwner = fmt.Errorf("%w: the organisation must keep an owner who can sign in", ErrConflict)
	// ErrNoSSOConnection is ErrConflict for moving a member to SSO while the
	// organisation has no SSO connection: they could not sign in at all.
	ErrNoSSOConnection = fmt.Errorf("%w: the organisation has no SSO connection yet", ErrConflict)
)

// InvalidError reports a request value that is wrong: Field names it as the
// caller wrote it ("" for the request as a whole), Code says what is wrong
// (one of the Reason constants), and Args are the facts the words need, such
// as {"Min": "8"} or {"Country": "US", "Countries": "FR, BE"}. The domain holds no
// words for people: the web adapter's catalogue has a message for every code,
// in every language it speaks.
type InvalidError struct {
	Field string
	Code  Reason
	Args  map[string]string
}

// Error is for logs: the field, the code and the arguments, in a stable order.
func (e *InvalidError) Error() string {
	var b strings.Builder
	b.WriteString("twostep: invalid ")
	if e.Field == "" {
		b.WriteString("request")
	} else {
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(string(e.Code))
	if len(e.Args) > 0 {
		keys := slices.Sorted(maps.Keys(e.Args))
		b.WriteString(" (")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k + "=" + e.Args[k])
		}
		b.WriteString(")")
	}
	return b.String()
}

// invalid is an *InvalidError; kv are pairs of argument names and values.
func invalid(field string, code Reason, kv ...string) error {
	e := &InvalidError{Field: field, Code: code}
	if len(kv) > 0 {
		e.Args = make(map[string]string, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			e.Args[kv[i]] = kv[i+1]
		}
	}
	return e
}

// ThrottledError is ErrThrottled (or ErrResendTooSoon, ErrBusy, ErrUnavailable)
// with the time after which a retry may succeed.
type ThrottledError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string { return e.Err.Error() }
func (e *ThrottledError) Unwrap() error { return e.Err }

// CodeError is ErrInvalidCode with the number of tries left on this sign-in.
type CodeError struct {
	AttemptsLeft int
	// Email is the account's address once a sign-in is spent (no tries
	// left), so that the sign-in page can offer it again. Only the holder
	// of the sign-in token, who typed it with the password, ever sees it.
	Email string
}

func (e *CodeError) Error() string { return ErrInvalidCode.Error() }
func (e *CodeError) Unwrap() error { return ErrInvalidCode }

// UpgradeError is ErrClientUpgrade with the first client version that may sign in.
type UpgradeError struct {
	MinClientVersion string
}

func (e *UpgradeError) Error() string { return ErrClientUpgrade.Error() }
func (e *UpgradeError) Unwrap() error { return ErrClientUpgrade }

// RetryAfter returns how long the caller should wait before retrying err, or 0.
func RetryAfter(err error) time.Duration {
	var t *ThrottledError
	if errors.As(err, &t) {
		return t.RetryAfter
	}
	return 0
}

func throttled(err error, d time.Duration) error {
	if d < time.Second {
		d = time.Second
	}
	return &ThrottledError{Err: err, RetryAfter: d.Round(time.Second)}
}
