package twostep

import (
	"slices"
	"time"
)

// SecondStep says how a session's second step was met (API.md, the paragraph
// before §7). One mapping decides everything from it: an identity confirmation
// needs SecondStepProven, an administrator's session too when the administrator
// has a method.
type SecondStep string

// How a session's second step was met.
const (
	SecondStepProven     SecondStep = "proven"     // in this sign-in
	SecondStepRemembered SecondStep = "remembered" // a remembered device (API.md §11)
	SecondStepUpstream   SecondStep = "upstream"   // trusted from an SSO provider (API.md §12)
	SecondStepExempt     SecondStep = "exempt"     // a legacy client let in with the password alone, or SSO "never"
	SecondStepNone       SecondStep = "none"       // the account had no method to prove
)

// SignInState is what a sign-in decision looks at: the account, what it has,
// its organisation's policy and what this sign-in has proven so far.
type SignInState struct {
	Account *Account
	Org     *Org
	// Offered are the methods this server offers; the policy allows a subset.
	Offered []Method
	// Factors are the account's active factors; RecoveryCodes counts its unused codes.
	Factors       []*Factor
	RecoveryCodes int
	// Proven is the amr earned so far: "pwd", then the second step's.
	Proven []string
	// Legacy is an old client that the account and its organisation let in
	// with the password alone (API.md §3.1).
	Legacy bool
	// Remembered: the sign-in comes from a device of this account that the
	// member asked to remember, within the policy's limit (Device.Remembers),
	// and nothing it signs in for asks for an explicit step-up.
	Remembered bool
	// AppPassword is the id of the app password an old client signed in
	// with instead of the password (API.md §11), "" for none.
	AppPassword string
	// RequireSecondStep: what the person signs in for (an OpenID Connect
	// client asking for two-step, API.md §7) needs a second step, so an
	// account without one enrols, without a grace period, as under a
	// required policy.
	RequireSecondStep bool
	// RequirePhishingResistant: what the person signs in for (an OpenID
	// Connect request with acr_values phishing-resistant, API.md §7) asks
	// for a passkey or security key: only keys are offered, as under
	// admins_phishing_resistant, while the policy allows them.
	RequirePhishingResistant bool
	// Upstream is set for a sign-in at the organisation's own identity
	// provider (API.md §12): the connection's rule and what the provider
	// said. Proven then holds only what Twostep itself proved: there is no
	// password.
	Upstream *Upstream
	Now      time.Time
}

// Upstream is an SSO sign-in's provider answer, as far as Decide cares. A
// sign-in token of an SSO sign-in keeps it until the sign-in ends.
type Upstream struct {
	Issuer string   `json:"issuer"`
	Rule   SSORule  `json:"rule"`
	AMR    []string `json:"amr"`
	ACR    string   `json:"acr,omitempty"`
	// Proven: the provider's amr or acr says its sign-in had a second step.
	Proven bool `json:"proven"`
}

// NextKind is what a sign-in must do next.
type NextKind int

// The next step of a sign-in.
const (
	NextSecondStep NextKind = iota + 1 // prove one of Choices
	NextEnrol                          // set up one of Allowed (or skip until GraceUntil)
	NextSession                        // done: a session with SecondStep and AMR
)

// Choice is one way to prove the second step: a factor by one of its channels,
// or a recovery code (Factor nil).
type Choice struct {
	Method Method
	Factor *Factor
}

// Next is the one answer to "what must this sign-in do now".
type Next struct {
	Kind NextKind
	// NextSecondStep: every factor and channel that may prove it, then recovery
	// codes while some remain.
	Choices []Choice
	// NextEnrol: the methods the policy allows, and until when the member may
	// go on without one (zero: not at all), with the session below.
	Allowed    []Method
	GraceUntil time.Time
	// NextSession (and NextEnrol): how the second step was met and the
	// session's amr.
	SecondStep SecondStep
	AMR        []string
	// Confirmed: the session counts as a fresh identity confirmation, because
	// it proved everything the account has.
	Confirmed bool
	// AppPasswordID marks the session as made with that app password.
	AppPasswordID string
	// Upstream is the SSO sign-in's provider answer, which an enrolment
	// token carries on.
	Upstream *Upstream
}

// Offers reports whether the step lets m prove the second step, by factorID when
// one is given.
func (n Next) Offers(m Method, factorID string) bool {
	return n.Kind == NextSecondStep && slices.ContainsFunc(n.Choices, func(c Choice) bool {
		return c.Method == m && (factorID == "" || c.Factor != nil && c.Factor.ID == factorID)
	})
}

// HasMethod reports whether the account has anything to prove: an active
// factor or an unused recovery code.
func (st SignInState) HasMethod() bool { return len(st.Factors) > 0 || st.RecoveryCodes > 0 }

// Decide returns the next step of a sign-in. It is the one place that says what
// a person must do before getting a session, whatever the path (API, pages, and
// the protocols built on them):
//   - an account with any active method or unused recovery code proves one of them
//     before anything else (SU-07), whatever the policy says; only the methods the
//     policy allows are offered, unless none of its methods is allowed: then it
//     proves what it has, and enrols an allowed one after;
//   - an app password (an old client's) is one exception, with a session
//     marked exempt and with it, that never counts as a confirmation;
//   - a legacy client let in by the account and its policy is another,
//     with a session marked exempt that never counts as a confirmation;
//   - a remembered device is the other, while the account still has a method
//     the policy allows and nothing asks for a second step explicitly
//     (RequireSecondStep): a session marked remembered, amr ["pwd"], which
//     satisfies a required policy but never counts as a confirmation;
//   - an account left without an allowed method (or without any under a required
//     policy) enrols, or goes on during its grace period;
//   - owners and admins under admins_phishing_resistant may use only a
//     passkey or security key (ORG-03): no remembered device, no recovery
//     code while they have a key, and enrolment of one when they have none;
//     so may anyone signing in for a request that asks for phishing
//     resistance (RequirePhishingResistant), while the policy allows keys;
//   - otherwise it gets a session.
//
// A sign-in at the organisation's provider (Upstream) has no password and
// follows the connection's rule instead of the policy (decideUpstream).
func Decide(st SignInState) Next {
	allowed := allowedMethods(st.Org, st.Offered)
	// Owners and admins under admins_phishing_resistant: a passkey or
	// security key only, neither a remembered device nor a recovery code
	// instead of it; without one they prove what they have and enrol one.
	keysOnly := AdminMustUsePasskey(st.Org, st.Account) ||
		st.RequirePhishingResistant && slices.Contains(allowed, MethodWebAuthn)
	if keysOnly {
		allowed = slices.DeleteFunc(allowed, func(m Method) bool { return m != MethodWebAuthn })
	}
	var usable []*Factor
	for _, f := range st.Factors {
		if len(factorChannels(f, allowed)) > 0 {
			usable = append(usable, f)
		}
	}
	proven := provenSecondStep(st.Proven)
	if st.Upstream != nil {
		return decideUpstream(st, allowed, usable, keysOnly)
	}
	if st.AppPassword != "" {
		// Whatever the account has: such a session reaches no security
		// setting and yields no OpenID Connect token, so it needs no more.
		return Next{Kind: NextSession, SecondStep: SecondStepExempt, AMR: []string{"pwd"}, AppPasswordID: st.AppPassword}
	}
	if st.HasMethod() && !proven {
		if st.Legacy {
			return Next{Kind: NextSession, SecondStep: SecondStepExempt, AMR: []string{"pwd"}}
		}
		if st.Remembered && !st.RequireSecondStep && !keysOnly && len(usable) > 0 {
			return Next{Kind: NextSession, SecondStep: SecondStepRemembered, AMR: []string{"pwd"}}
		}
		return secondStepChoices(st, allowed, usable, keysOnly)
	}
	// What a session would record now: for NextSession, and for NextEnrol
	// when its grace period lets the member go on without enrolling.
	n := Next{Kind: NextSession, SecondStep: SecondStepNone, AMR: slices.Clone(st.Proven)}
	if proven {
		n.SecondStep = SecondStepProven
	}
	// Everything the account has was proven: the password when that is all it has.
	n.Confirmed = proven || !st.HasMethod()
	if len(usable) == 0 && (len(st.Factors) > 0 || st.Org.Policy.TwoStep == PolicyRequired || st.RequireSecondStep || keysOnly) {
		n.Kind, n.Allowed = NextEnrol, allowed
		if until := graceUntil(st.Org, st.Account); st.Now.Before(until) && !st.RequireSecondStep {
			n.GraceUntil = until
		}
	}
	return n
}

// issuer is the provider's issuer, "" for a sign-in that is not SSO.
func (u *Upstream) issuer() string {
	if u == nil {
		return ""
	}
	return u.Issuer
}

// secondStepChoices is the NextSecondStep of an account that has a method:
// every factor by each channel the policy allows, or, when none of them is
// allowed, by every channel (prove what you have, then enrol), then recovery
// codes while some remain (not instead of a key an admin must use: keysOnly).
func secondStepChoices(st SignInState, allowed []Method, usable []*Factor, keysOnly bool) Next {
	n := Next{Kind: NextSecondStep, Upstream: st.Upstream}
	for _, f := range st.Factors {
		chans := factorChannels(f, allowed)
		if len(usable) == 0 {
			chans = factorChannels(f, nil)
		}
		for _, m := range chans {
			n.Choices = append(n.Choices, Choice{Method: m, Factor: f})
		}
	}
	if st.RecoveryCodes > 0 && !(keysOnly && len(usable) > 0) {
		n.Choices = append(n.Choices, Choice{Method: MethodRecoveryCode})
	}
	return n
}

// decideUpstream is Decide for a sign-in at the organisation's provider
// (API.md §12), by the connection's rule:
//   - never: a session marked exempt with the provider's amr, the
//     organisation's policy not applying — except for owners and admins,
//     for whom never acts as trust_upstream (ORG-02), and when what the
//     person signs in for asks for a second step (RequireSecondStep);
//   - trust_upstream: the provider's amr/acr showing a second step gives a
//     session marked upstream; otherwise as always;
//   - always (and for owners and admins who must use a passkey, whatever
//     the rule): the account proves a Twostep method it has (SU-07), or, with
//     none, enrols one the policy allows, without a grace period; then a
//     session marked proven whose amr is the provider's plus Twostep's own.
func decideUpstream(st SignInState, allowed []Method, usable []*Factor, keysOnly bool) Next {
	up := st.Upstream
	rule := up.Rule
	if rule == SSONever && (st.Account.Role != RoleMember || st.RequireSecondStep) {
		rule = SSOTrustUpstream
	}
	if keysOnly {
		// admins_phishing_resistant: the provider's second step may not
		// be a key, so the owner or admin proves Twostep's own.
		rule = SSOAlways
	}
	amr := append(slices.Clone(up.AMR), st.Proven...)
	switch {
	case provenSecondStep(st.Proven) && len(usable) == 0 && len(allowed) > 0:
		// Proved what it has, which the policy no longer allows: add one it does.
		return Next{Kind: NextEnrol, Allowed: allowed, SecondStep: SecondStepProven, AMR: slices.Clone(st.Proven), Upstream: up}
	case provenSecondStep(st.Proven):
		return Next{Kind: NextSession, SecondStep: SecondStepProven, AMR: amr, Confirmed: true, Upstream: up}
	case rule == SSONever:
		return Next{Kind: NextSession, SecondStep: SecondStepExempt, AMR: amr, Upstream: up}
	case rule == SSOTrustUpstream && up.Proven:
		return Next{Kind: NextSession, SecondStep: SecondStepUpstream, AMR: amr, Confirmed: !st.HasMethod(), Upstream: up}
	case st.HasMethod():
		return secondStepChoices(st, allowed, usable, keysOnly)
	}
	return Next{Kind: NextEnrol, Allowed: allowed, SecondStep: SecondStepNone, AMR: slices.Clone(st.Proven), Upstream: up}
}

// provenSecondStep reports whether amr holds a second step beside the password.
func provenSecondStep(amr []string) bool {
	return slices.ContainsFunc(amr, func(m string) bool { return m != "pwd" })
}

// factorChannels returns the methods by which f proves the second step, among
// allowed (nil: all of them). A phone takes each of its channels.
func factorChannels(f *Factor, allowed []Method) []Method {
	chans := []Method{f.Method}
	if isPhone(f.Method) && len(f.Channels) > 0 {
		chans = f.Channels
	}
	if allowed == nil {
		return chans
	}
	var out []Method
	for _, m := range chans {
		if slices.Contains(allowed, m) {
			out = append(out, m)
		}
	}
	return out
}

// allowedMethods returns the methods the organisation's policy allows among
// those offered.
func allowedMethods(o *Org, offered []Method) []Method {
	out := []Method{}
	for _, m := range offered {
		if slices.Contains(o.Policy.AllowedMethods, m) {
			out = append(out, m)
		}
	}
	return out
}

// graceUntil is when a member's grace period ends under a required policy:
// the later of the policy change and the member's creation, plus the grace
// days; zero when there is none (owners and admins get none: ORG-02).
func graceUntil(org *Org, a *Account) time.Time {
	if org.Policy.TwoStep != PolicyRequired || org.Policy.GracePeriodDays == 0 || a.Role != RoleMember {
		return time.Time{}
	}
	start := org.Policy.ChangedAt
	if a.CreatedAt.After(start) {
		start = a.CreatedAt
	}
	return start.Add(time.Duration(org.Policy.GracePeriodDays) * 24 * time.Hour)
}
