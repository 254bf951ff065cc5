package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// failure is what an error means to whoever asked, the JSON API and the pages
// alike: the one mapping of errors (DESIGN.md §1). The pages say Message in
// the reader's language; the API says the English detail (api.en.json). Only
// describe decides a status.
type failure struct {
	Status           int
	Code             string         // the problem code (API.md §2)
	Reason           twostep.Reason // the InvalidError's code, else ""
	Field            string         // the request field at fault, else ""
	Message          string         // the pages' message id (en.json, fr.json…)
	Args             map[string]string
	Detail           string // the API's message id (api.en.json), "" for none
	RetryAfter       time.Duration
	AttemptsLeft     *int
	MinClientVersion string
	ErrorID          string // set for an unexpected error, and logged with it
	Log              bool   // the operator must hear of it: a bug, or the database out of reach
}

// problem is an RFC 9457 problem details body with Twostep's extra members.
type problem struct {
	Type             string `json:"type"`
	Title            string `json:"title"`
	Status           int    `json:"status"`
	Code             string `json:"code"`
	Detail           string `json:"detail,omitempty"`
	Field            string `json:"field,omitempty"`
	Reason           string `json:"reason,omitempty"`
	RetryAfter       int    `json:"retry_after,omitempty"`
	AttemptsLeft     *int   `json:"attempts_left,omitempty"`
	MinClientVersion string `json:"min_client_version,omitempty"`
	ErrorID          string `json:"error_id,omitempty"`
}

// errorMapping maps the domain's sentinels, the first that err is wins:
// status, problem code, the pages' message, the API's detail.
var errorMapping = []struct {
	err     error
	status  int
	code    string
	message string
	detail  string
}{
	{errNotJSON, 415, "invalid_request", "error.invalid_request", "problem.not_json"},
	{twostep.ErrInvalidCredentials, 401, "invalid_credentials", "signin.wrong_pair", "problem.invalid_credentials"},
	{twostep.ErrInvalidCode, 400, "invalid_code", "code.wrong", "problem.invalid_code"},
	{twostep.ErrExpired, 410, "expired", "error.expired", "problem.expired"},
	{twostep.ErrThrottled, 429, "too_many_attempts", "error.throttled", "problem.too_many_attempts"},
	{twostep.ErrResendTooSoon, 429, "resend_too_soon", "send.too_soon", "problem.resend_too_soon"},
	{twostep.ErrConfirmIdentity, 403, "confirm_identity_required", "error.confirm_identity_required", "problem.confirm_identity_required"},
	{twostep.ErrClientUpgrade, 403, "client_upgrade_required", "error.client_upgrade_required", "problem.client_upgrade_required"},
	{twostep.ErrSSOManaged, 403, "sso_managed", "error.sso_managed", "problem.sso_managed"},
	{twostep.ErrEnrolmentRequired, 403, "policy_requires_two_step", "error.policy_requires_two_step", "problem.enrolment_required"},
	{twostep.ErrPolicyRequiresTwoStep, 409, "policy_requires_two_step", "error.policy_requires_two_step", "problem.policy_requires_two_step"},
	{twostep.ErrMethodNotAllowed, 403, "method_not_allowed_by_policy", "error.method_not_allowed_by_policy", "problem.method_not_allowed_by_policy"},
	{twostep.ErrNotFound, 404, "not_found", "error.not_found", "problem.not_found"},
	{twostep.ErrForbidden, 403, "forbidden", "error.forbidden", "problem.forbidden"},
	{twostep.ErrUnauthenticated, 401, "unauthenticated", "error.unauthenticated", "problem.unauthenticated"},
	// Two conflicts that say what to do, before the generic one they wrap.
	{twostep.ErrLastOwner, 409, "conflict", "members.last_owner", "problem.last_owner"},
	{twostep.ErrNoSSOConnection, 409, "conflict", "members.no_sso_connection", "problem.no_sso_connection"},
	{twostep.ErrConflict, 409, "conflict", "error.conflict", "problem.conflict"},
	{twostep.ErrDeliveryFailed, 502, "delivery_failed", "error.delivery_failed", "problem.delivery_failed"},
	// The organisation's identity provider did not answer (API.md §12).
	{twostep.ErrSSOUnavailable, 502, "unavailable", "error.sso_unavailable", "problem.sso_unavailable"},
	// The database (or the password hashing) cannot answer now: retryable.
	{twostep.ErrUnavailable, 503, "unavailable", "error.busy", "problem.unavailable"},
	{twostep.ErrBusy, 503, "unavailable", "error.busy", "problem.busy"},
	{context.DeadlineExceeded, 503, "unavailable", "error.busy", "problem.unavailable"},
}

// errNotJSON is an API request body sent as something other than JSON.
var errNotJSON = errors.New("web: the body is not declared as JSON")

// describe maps err to what a client is told. An *InvalidError is a 400 naming
// its field and reason; a sentinel is its row of errorMapping; a request the
// client gave up is 499; anything else is a bug: 500 with a fresh ErrorID, never
// a retryable status.
func describe(err error) failure {
	var inv *twostep.InvalidError
	if errors.As(err, &inv) {
		return failure{Status: http.StatusBadRequest, Code: "invalid_request", Reason: inv.Code, Field: inv.Field,
			Message: "invalid." + string(inv.Code), Args: inv.Args, Detail: "reason." + string(inv.Code)}
	}
	for _, m := range errorMapping {
		if !errors.Is(err, m.err) {
			continue
		}
		f := failure{Status: m.status, Code: m.code, Message: m.message, Detail: m.detail, RetryAfter: twostep.RetryAfter(err),
			Log: m.err == twostep.ErrUnavailable || m.err == context.DeadlineExceeded}
		var snd sending
		isSend := errors.As(err, &snd)
		var ce *twostep.CodeError
		if errors.As(err, &ce) {
			f.AttemptsLeft = &ce.AttemptsLeft
			f.Message = "code.wrong_none"
			if ce.AttemptsLeft > 0 {
				f.Message = "code.wrong_left"
			}
		}
		var ue *twostep.UpgradeError
		if errors.As(err, &ue) {
			f.MinClientVersion = ue.MinClientVersion
		}
		switch {
		case m.err == twostep.ErrThrottled && isSend:
			// The cap on codes sent, not on tries; the phone caps count per
			// number, network, country and server, not only per person.
			f.Message = "send.cap"
			if snd.phone {
				f.Message = "send.cap_phone"
			}
			f.RetryAfter = cmp0(f.RetryAfter, time.Hour)
		case m.err == twostep.ErrThrottled:
			f.RetryAfter = cmp0(f.RetryAfter, 5*time.Second)
		case m.err == twostep.ErrResendTooSoon:
			f.RetryAfter = cmp0(f.RetryAfter, twostep.ResendCooldown)
		case m.err == twostep.ErrDeliveryFailed && isSend:
			f.Message = "send.failed"
			if snd.phone {
				f.Message = "send.failed_phone"
			}
		case f.Status == http.StatusServiceUnavailable:
			f.RetryAfter = cmp0(f.RetryAfter, 5*time.Second)
		}
		return f
	}
	if errors.Is(err, context.Canceled) {
		return failure{Status: 499, Code: "unavailable", Message: "error.unavailable"}
	}
	return failure{Status: http.StatusInternalServerError, Code: "internal_error", Message: "error.internal",
		Detail: "problem.internal_error", ErrorID: newErrorID(), Log: true}
}

// cmp0 is d, or def when d is not set.
func cmp0(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// newErrorID is 8 random bytes in hex: what the person quotes and the
// operator finds in the log.
func newErrorID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// fail describes err and logs it when it is unexpected (with its error id) or
// says the database is out of reach.
func (s *Server) fail(r *http.Request, err error) failure {
	f := describe(err)
	switch {
	case f.ErrorID != "":
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error_id", f.ErrorID, "err", err)
	case isUnavailable(err):
		s.unavailable(r, err) // once per outage, not once per request
	case f.Log:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	return f
}

// args are f's template data: its own and the error id.
func (f failure) args() map[string]string {
	if f.ErrorID == "" {
		return f.Args
	}
	m := map[string]string{"ErrorID": f.ErrorID}
	for k, v := range f.Args {
		m[k] = v
	}
	return m
}

// problem is f as problem details, its detail in English naming the field.
func (f failure) problem() problem {
	title := http.StatusText(f.Status)
	switch {
	case f.Reason != "":
		title = "Invalid request"
	case f.Status == 499:
		title = "Client Closed Request"
	}
	p := problem{Type: "about:blank", Title: title, Status: f.Status, Code: f.Code, Field: f.Field, Reason: string(f.Reason),
		RetryAfter: int(f.RetryAfter / time.Second), AttemptsLeft: f.AttemptsLeft, MinClientVersion: f.MinClientVersion, ErrorID: f.ErrorID}
	if f.Detail != "" {
		p.Detail = apiText(f.Detail, f.args())
		if f.Reason != "" && f.Field != "" {
			p.Detail = f.Field + " " + p.Detail
		}
	}
	return p
}

// retryAfter sets the Retry-After header f asks for.
func (f failure) retryAfter(w http.ResponseWriter) {
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter/time.Second)))
	}
}

// apiError writes err as problem details.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	f := s.fail(r, err)
	f.retryAfter(w)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(f.Status)
	json.NewEncoder(w).Encode(f.problem())
}

// Reasons of the web adapter's own refusals: the request itself, before any
// domain rule.
const (
	reasonBodyEmpty      twostep.Reason = "body_empty"
	reasonBodyTruncated  twostep.Reason = "body_truncated"
	reasonBodySyntax     twostep.Reason = "body_syntax" // Offset: the byte
	reasonBodyNotObject  twostep.Reason = "body_not_object"
	reasonBodyInvalid    twostep.Reason = "body_invalid"
	reasonBodyTrailing   twostep.Reason = "body_trailing"
	reasonBodyTooLarge   twostep.Reason = "body_too_large"
	reasonUnknownField   twostep.Reason = "unknown_field" // Name: the field, quoted
	reasonNotString      twostep.Reason = "not_string"
	reasonNotBoolean     twostep.Reason = "not_boolean"
	reasonNotNumber      twostep.Reason = "not_number"
	reasonWrongType      twostep.Reason = "wrong_type"
	reasonEventID        twostep.Reason = "event_id"
	reasonWholeNumber    twostep.Reason = "whole_number" // Min, Max
	reasonFormUnreadable twostep.Reason = "form_unreadable"
)

// badRequest is a problem about the request itself; kv are argument names and values.
func badRequest(field string, code twostep.Reason, kv ...string) error {
	e := &twostep.InvalidError{Field: field, Code: code}
	if len(kv) > 0 {
		e.Args = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			e.Args[kv[i]] = kv[i+1]
		}
	}
	return e
}
