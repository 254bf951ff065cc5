package twostep_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/twostep"
)

// TestDecideUpstream holds the SSO part of the one sign-in decision as a
// table over the connection's rule × role × what the provider said × what
// the account has × what Twostep proved (API.md §12; SECURITY.md ORG-02,
// SU-07).
func TestDecideUpstream(t *testing.T) { // ORG-02, SU-07
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	all := []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail}
	totp := &twostep.Factor{ID: "totp", Method: twostep.MethodTOTP, Status: twostep.FactorActive}
	member := &twostep.Account{ID: "joe", Role: twostep.RoleMember, SSO: true, CreatedAt: now}
	admin := &twostep.Account{ID: "ann", Role: twostep.RoleAdmin, SSO: true, CreatedAt: now}
	owner := &twostep.Account{ID: "oli", Role: twostep.RoleOwner, SSO: true, CreatedAt: now}
	required := &twostep.Org{ID: "org", Policy: twostep.Policy{TwoStep: twostep.PolicyRequired, GracePeriodDays: 30,
		AllowedMethods: all, ChangedAt: now}}
	pwd, mfa := []string{"pwd"}, []string{"pwd", "mfa"}
	type want struct {
		Kind       twostep.NextKind
		SecondStep twostep.SecondStep
		AMR        []string
		Confirmed  bool
		Choices    int
		Grace      bool
	}
	tests := []struct {
		name      string
		account   *twostep.Account
		rule      twostep.SSORule
		upAMR     []string
		upACR     string
		factors   []*twostep.Factor
		proven    []string
		twoStepRq bool
		want      want
	}{
		{name: "never, member: the provider is all (policy required or not)", account: member, rule: twostep.SSONever, upAMR: pwd,
			want: want{Kind: twostep.NextSession, SecondStep: twostep.SecondStepExempt, AMR: pwd}},
		{name: "never, member with a Twostep app: still the provider alone", account: member, rule: twostep.SSONever, upAMR: pwd,
			factors: []*twostep.Factor{totp}, want: want{Kind: twostep.NextSession, SecondStep: twostep.SecondStepExempt, AMR: pwd}},
		{name: "never, admin without upstream proof: enrol, no grace (ORG-02)", account: admin, rule: twostep.SSONever, upAMR: pwd,
			want: want{Kind: twostep.NextEnrol, SecondStep: twostep.SecondStepNone, AMR: nil}},
		{name: "never, owner with upstream mfa: upstream (ORG-02)", account: owner, rule: twostep.SSONever, upAMR: mfa,
			want: want{Kind: twostep.NextSession, SecondStep: twostep.SecondStepUpstream, AMR: mfa, Confirmed: true}},
		{name: "never, member, a product asks for two-step: as trust_upstream", account: member, rule: twostep.SSONever, upAMR: pwd,
			twoStepRq: true, want: want{Kind: twostep.NextEnrol, SecondStep: twostep.SecondStepNone, AMR: nil}},
		{name: "trust_upstream, amr mfa: upstream", account: member, rule: twostep.SSOTrustUpstream, upAMR: mfa,
			want: want{Kind: twostep.NextSession, SecondStep: twostep.SecondStepUpstream, AMR: mfa, Confirmed: true}},
		{name: "trust_upstream, acr says aal2: upstream", account: member, rule: twostep.SSOTrustUpstream, upAMR: pwd,
			upACR: "http://idmanagement.gov/ns/assurance/aal/2", want: want{Kind: twostep.NextSession, SecondStep: twostep.SecondStepUpstream, AMR: pwd, Confirmed: true}},
		{name: "trust_upstream, amr hwk with a Twostep app: upstream, not a confirmation", account: member, rule: twostep.SSOTrustUpstream,
			upAMR: []string{"hwk"}, factors: []*twostep.Factor{totp},
			want: want{Kind: twostep.NextSession, SecondStep: twostep.SecondStepUpstream, AMR: []string{"hwk"}}},
		{name: "trust_upstream, password only, an app: prove it", account: member, rule: twostep.SSOTrustUpstream, upAMR: pwd,
			factors: []*twostep.Factor{totp}, want: want{Kind: twostep.NextSecondStep, Choices: 1}},
		{name: "trust_upstream, password only, nothing: enrol without grace", account: member, rule: twostep.SSOTrustUpstream, upAMR: pwd,
			want: want{Kind: twostep.NextEnrol, SecondStep: twostep.SecondStepNone, AMR: nil}},
		{name: "always, upstream mfa, an app: prove it (SU-07)", account: member, rule: twostep.SSOAlways, upAMR: mfa,
			factors: []*twostep.Factor{totp}, want: want{Kind: twostep.NextSecondStep, Choices: 1}},
		{name: "always, app proven: proven, amr the provider's and Twostep's", account: member, rule: twostep.SSOAlways, upAMR: mfa,
			factors: []*twostep.Factor{totp}, proven: []string{"otp"},
			want: want{Kind: twostep.NextSession, SecondStep: twostep.SecondStepProven, AMR: []string{"pwd", "mfa", "otp"}, Confirmed: true}},
		{name: "always, nothing: enrol", account: admin, rule: twostep.SSOAlways, upAMR: mfa,
			want: want{Kind: twostep.NextEnrol, SecondStep: twostep.SecondStepNone, AMR: nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := twostep.SignInState{Account: tc.account, Org: required, Offered: all, Factors: tc.factors, Proven: tc.proven,
				RequireSecondStep: tc.twoStepRq, Now: now,
				Upstream: &twostep.Upstream{Issuer: "https://idp.example", Rule: tc.rule, AMR: tc.upAMR, ACR: tc.upACR,
					Proven: twostep.UpstreamShowsSecondStep(tc.upAMR, tc.upACR)}}
			n := twostep.Decide(st)
			got := want{Kind: n.Kind, SecondStep: n.SecondStep, AMR: n.AMR, Confirmed: n.Confirmed, Choices: len(n.Choices),
				Grace: !n.GraceUntil.IsZero()}
			if n.Kind == twostep.NextSecondStep {
				got.SecondStep, got.AMR = "", nil
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
			if n.Upstream == nil {
				t.Errorf("the decision lost the provider's answer, which the sign-in token must carry")
			}
		})
	}
}
