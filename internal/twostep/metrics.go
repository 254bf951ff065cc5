package twostep

import "errors"

// Metrics receives counts of what the service does, for the operator's
// dashboards. Label values are fixed words (a method, an outcome, a kind of
// throttle), never an account, an address, a code or a token.
type Metrics interface {
	// SignIn counts first steps by outcome: the status, or the error code.
	SignIn(outcome string)
	// SecondStep counts second-step submissions by method and outcome.
	SecondStep(method, outcome string)
	// ThrottleTrip counts throttles that locked and caps that refused a send, by
	// kind ("account", "email", "ip", "device", "reauth", "send_number", "send_global", …).
	ThrottleTrip(kind string)
	// DeliveryFailed counts failed deliveries by channel; final says the
	// message was given up (here: a provider reported it failed after taking it).
	DeliveryFailed(channel string, final bool)
}

// VerifyMetrics is what a Metrics may also count: Verify API requests (API.md
// §10) by operation ("verification", "check", "factor", "challenge", "auth",
// …), channel ("sms", "call", "email", "totp" or "") and outcome ("pending",
// "approved", "not_found", "throttled", …). It is apart from Metrics so that
// a Metrics without it still works.
type VerifyMetrics interface {
	VerifyRequest(operation, channel, outcome string)
}

// verifyMetric counts a Verify request if the metrics take it.
func (s *Service) verifyMetric(operation, channel, outcome string) {
	if vm, ok := s.metrics.(VerifyMetrics); ok {
		vm.VerifyRequest(operation, channel, outcome)
	}
}

type noMetrics struct{}

func (noMetrics) SignIn(string)               {}
func (noMetrics) SecondStep(string, string)   {}
func (noMetrics) ThrottleTrip(string)         {}
func (noMetrics) DeliveryFailed(string, bool) {}

func errAs(err error, target any) bool { return errors.As(err, target) }
func isErr(err, target error) bool     { return errors.Is(err, target) }

// outcome words an error for a metric label.
func outcome(err error) string {
	var inv *InvalidError
	switch {
	case err == nil:
		return "success"
	case errAs(err, &inv):
		return "invalid_request"
	case isErr(err, ErrInvalidCredentials):
		return "invalid_credentials"
	case isErr(err, ErrInvalidCode):
		return "invalid_code"
	case isErr(err, ErrExpired):
		return "expired"
	case isErr(err, ErrThrottled):
		return "throttled"
	case isErr(err, ErrSSOManaged):
		return "sso_managed"
	case isErr(err, ErrClientUpgrade):
		return "client_upgrade_required"
	case isErr(err, ErrBusy):
		return "busy"
	}
	return "error"
}
