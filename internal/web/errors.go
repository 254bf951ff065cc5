package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/twostep/twostep/internal/twostep"
)

// problem is an RFC 9457 problem details body with Twostep's extra members.
type problem struct {
	Type             string `json:"type"`
	Title            string `json:"title"`
	Status           int    `json:"status"`
	Code             string `json:"code"`
	Detail           string `json:"detail,omitempty"`
	Field            string `json:"field,omitempty"`
	RetryAfter       int    `json:"retry_after,omitempty"`
	AttemptsLeft     *int   `json:"attempts_left,omitempty"`
	MinClientVersion string `json:"min_client_version,omitempty"`
}

// errorMapping is the one place where a domain error becomes a status, a code and
// a safe message.
var errorMapping = []struct {
	err    error
	status int
	code   string
	detail string
}{
	{twostep.ErrInvalidCredentials, 401, "invalid_credentials", "The e-mail or password is wrong."},
	{twostep.ErrInvalidCode, 400, "invalid_code", "The code is wrong."},
	{twostep.ErrExpired, 410, "expired", "This sign-in or link is no longer valid; start again."},
	{twostep.ErrThrottled, 429, "too_many_attempts", "Too many attempts; try again later."},
	{twostep.ErrResendTooSoon, 429, "resend_too_soon", "A code was sent moments ago; wait before asking again."},
	{twostep.ErrConfirmIdentity, 403, "confirm_identity_required", "Confirm your identity first (POST /api/v1/account/confirm-identity)."},
	{twostep.ErrClientUpgrade, 403, "client_upgrade_required", "This app version cannot do two-step verification; update it."},
	{twostep.ErrSSOManaged, 403, "sso_managed", "This account signs in through its organisation's single sign-on."},
	{twostep.ErrEnrolmentRequired, 403, "policy_requires_two_step", "Your organisation requires two-step verification: set up a method to finish signing in."},
	{twostep.ErrPolicyRequiresTwoStep, 409, "policy_requires_two_step", "Your organisation requires two-step verification."},
	{twostep.ErrMethodNotAllowed, 403, "method_not_allowed_by_policy", "Your organisation does not allow this method."},
	{twostep.ErrNotFound, 404, "not_found", "Not found."},
	{twostep.ErrForbidden, 403, "forbidden", "You may not do this."},
	{twostep.ErrUnauthenticated, 401, "unauthenticated", "Sign in first: the token is missing, unknown or expired."},
	// Two conflicts that say what to do, before the generic one they wrap.
	{twostep.ErrLastOwner, 409, "conflict", "The organisation must keep an owner who can sign in (not through SSO, with a password): make another member owner first."},
	{twostep.ErrNoSSOConnection, 409, "conflict", "This organisation has no single sign-on (SSO) connection yet, so a member moved to SSO could not sign in."},
	{twostep.ErrConflict, 409, "conflict", "This conflicts with the current state."},
	{twostep.ErrDeliveryFailed, 502, "delivery_failed", "The code could not be delivered."},
	{twostep.ErrUnavailable, 503, "unavailable", "The service is unavailable; try again shortly."},
	{twostep.ErrBusy, 503, "unavailable", "The service is busy; try again shortly."},
	// The request's database deadline passed (withDatabaseDeadline).
	{context.DeadlineExceeded, 503, "unavailable", "The service is unavailable; try again shortly."},
}

// errNotJSON is an API request body sent as something other than JSON.
var errNotJSON = errors.New("web: the body is not declared as JSON")

// toProblem maps err to what a client is told. Unknown errors are internal: the
// client gets 503 unavailable (most are a database away) and the log gets the rest.
func toProblem(err error) (p problem, internal bool) {
	if errors.Is(err, errNotJSON) {
		return problem{Type: "about:blank", Title: http.StatusText(http.StatusUnsupportedMediaType), Status: http.StatusUnsupportedMediaType,
			Code: "invalid_request", Detail: "send Content-Type: application/json"}, false
	}
	var inv *twostep.InvalidError
	if errors.As(err, &inv) {
		d := inv.Reason
		if inv.Field != "" {
			d = inv.Field + " " + inv.Reason
		}
		return problem{Type: "about:blank", Title: "Invalid request", Status: 400, Code: "invalid_request", Detail: d, Field: inv.Field}, false
	}
	for _, m := range errorMapping {
		if errors.Is(err, m.err) {
			p = problem{Type: "about:blank", Title: http.StatusText(m.status), Status: m.status, Code: m.code, Detail: m.detail}
			if d := twostep.RetryAfter(err); d > 0 {
				p.RetryAfter = int(d.Seconds())
			}
			var ce *twostep.CodeError
			if errors.As(err, &ce) {
				p.AttemptsLeft = &ce.AttemptsLeft
			}
			var ue *twostep.UpgradeError
			if errors.As(err, &ue) {
				p.MinClientVersion = ue.MinClientVersion
			}
			if p.Status == 503 && p.RetryAfter == 0 {
				p.RetryAfter = 5
			}
			return p, false
		}
	}
	if errors.Is(err, context.Canceled) {
		return problem{Type: "about:blank", Title: "Client Closed Request", Status: 499, Code: "unavailable"}, false
	}
	return problem{Type: "about:blank", Title: "Service Unavailable", Status: 503, Code: "unavailable",
		Detail: "Something went wrong on our side; try again shortly.", RetryAfter: 5}, true
}

// apiError writes err as problem details.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	p, internal := toProblem(err)
	if internal {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else if isUnavailable(err) {
		s.unavailable(r, err)
	}
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// badRequest is a problem about the request body itself.
func badRequest(detail string) error { return &twostep.InvalidError{Reason: detail} }
