package twostep_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/twostep"
)

// TestDecidePhishingResistant: under admins_phishing_resistant, owners and
// admins prove a passkey or security key only — no app, no recovery code
// while they have a key, no remembered device — and one without a key
// proves what it has, then enrols one, without grace; members are not
// touched (ORG-03, ORG-02, SU-07).
func TestDecidePhishingResistant(t *testing.T) { // ORG-03
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	all := []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail, twostep.MethodWebAuthn}
	totp := &twostep.Factor{ID: "totp", Method: twostep.MethodTOTP, Status: twostep.FactorActive, Default: true}
	key := &twostep.Factor{ID: "key", Method: twostep.MethodWebAuthn, Status: twostep.FactorActive}
	member := &twostep.Account{ID: "joe", Role: twostep.RoleMember, CreatedAt: now.Add(-time.Hour)}
	admin := &twostep.Account{ID: "ann", Role: twostep.RoleAdmin, CreatedAt: now.Add(-time.Hour)}
	owner := &twostep.Account{ID: "own", Role: twostep.RoleOwner, CreatedAt: now.Add(-time.Hour)}
	org := &twostep.Org{ID: "org", Policy: twostep.Policy{TwoStep: twostep.PolicyRequired, GracePeriodDays: 30,
		AllowedMethods: all, AdminsPhishingResistant: true, ChangedAt: now.Add(-time.Hour)}}
	type got struct {
		Kind    twostep.NextKind
		Choices []string
		Allowed []twostep.Method
		Grace   bool
		Step    twostep.SecondStep
	}
	pwd := []string{"pwd"}
	tests := []struct {
		name       string
		account    *twostep.Account
		factors    []*twostep.Factor
		codes      int
		proven     []string
		remembered bool
		want       got
	}{
		{"admin with a key and an app: the key only", admin, []*twostep.Factor{totp, key}, 10, pwd, false,
			got{Kind: twostep.NextSecondStep, Choices: []string{"webauthn:key"}}},
		{"owner too", owner, []*twostep.Factor{key}, 10, pwd, false,
			got{Kind: twostep.NextSecondStep, Choices: []string{"webauthn:key"}}},
		{"a remembered device does not spare the key", admin, []*twostep.Factor{key}, 0, pwd, true,
			got{Kind: twostep.NextSecondStep, Choices: []string{"webauthn:key"}}},
		{"admin without a key: prove what it has", admin, []*twostep.Factor{totp}, 10, pwd, false,
			got{Kind: twostep.NextSecondStep, Choices: []string{"totp:totp", "recovery_code:"}}},
		{"…then enrol a key, no grace", admin, []*twostep.Factor{totp}, 10, []string{"pwd", "otp"}, false,
			got{Kind: twostep.NextEnrol, Allowed: []twostep.Method{twostep.MethodWebAuthn}, Step: twostep.SecondStepProven}},
		{"admin with nothing: enrol a key", admin, nil, 0, pwd, false,
			got{Kind: twostep.NextEnrol, Allowed: []twostep.Method{twostep.MethodWebAuthn}, Step: twostep.SecondStepNone}},
		{"the key proven: a session", admin, []*twostep.Factor{totp, key}, 10, []string{"pwd", "hwk", "user"}, false,
			got{Kind: twostep.NextSession, Step: twostep.SecondStepProven}},
		{"a member keeps every allowed method and the grace", member, nil, 0, pwd, false,
			got{Kind: twostep.NextEnrol, Allowed: all, Grace: true, Step: twostep.SecondStepNone}},
		{"a member's app is fine", member, []*twostep.Factor{totp}, 10, pwd, false,
			got{Kind: twostep.NextSecondStep, Choices: []string{"totp:totp", "recovery_code:"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := twostep.Decide(twostep.SignInState{Account: tt.account, Org: org, Offered: all, Factors: tt.factors,
				RecoveryCodes: tt.codes, Proven: tt.proven, Remembered: tt.remembered, Now: now})
			g := got{Kind: n.Kind, Allowed: n.Allowed, Grace: !n.GraceUntil.IsZero()}
			if n.Kind != twostep.NextSecondStep {
				g.Step = n.SecondStep
			}
			for _, c := range n.Choices {
				id := ""
				if c.Factor != nil {
					id = c.Factor.ID
				}
				g.Choices = append(g.Choices, string(c.Method)+":"+id)
			}
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// TestDecideStepUpPhishingResistant: a sign-in for an OpenID Connect request
// asking for acr phishing-resistant offers a member only keys — no app, no
// recovery code while a key is usable, no remembered device — and a member
// without a key proves what it has, then enrols one, without grace; when the
// policy does not allow keys, nothing changes (the request then fails:
// OP-04).
func TestDecideStepUpPhishingResistant(t *testing.T) { // OP-04
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	all := []twostep.Method{twostep.MethodTOTP, twostep.MethodEmail, twostep.MethodWebAuthn}
	totp := &twostep.Factor{ID: "totp", Method: twostep.MethodTOTP, Status: twostep.FactorActive, Default: true}
	key := &twostep.Factor{ID: "key", Method: twostep.MethodWebAuthn, Status: twostep.FactorActive}
	member := &twostep.Account{ID: "joe", Role: twostep.RoleMember, CreatedAt: now.Add(-time.Hour)}
	org := func(allowed ...twostep.Method) *twostep.Org {
		return &twostep.Org{ID: "org", Policy: twostep.Policy{TwoStep: twostep.PolicyOptional, GracePeriodDays: 30,
			AllowedMethods: allowed, RememberDeviceDays: 30, ChangedAt: now.Add(-time.Hour)}}
	}
	type got struct {
		Kind    twostep.NextKind
		Choices []string
		Allowed []twostep.Method
		Grace   bool
	}
	pwd := []string{"pwd"}
	tests := []struct {
		name       string
		org        *twostep.Org
		factors    []*twostep.Factor
		proven     []string
		remembered bool
		want       got
	}{
		{"a key and an app: the key only", org(all...), []*twostep.Factor{totp, key}, pwd, false,
			got{Kind: twostep.NextSecondStep, Choices: []string{"webauthn:key"}}},
		{"a remembered device does not spare the key", org(all...), []*twostep.Factor{totp, key}, pwd, true,
			got{Kind: twostep.NextSecondStep, Choices: []string{"webauthn:key"}}},
		{"no key: prove what it has", org(all...), []*twostep.Factor{totp}, pwd, false,
			got{Kind: twostep.NextSecondStep, Choices: []string{"totp:totp", "recovery_code:"}}},
		{"…then enrol a key, no grace", org(all...), []*twostep.Factor{totp}, []string{"pwd", "otp"}, false,
			got{Kind: twostep.NextEnrol, Allowed: []twostep.Method{twostep.MethodWebAuthn}}},
		{"keys not allowed: the policy's methods", org(twostep.MethodTOTP), []*twostep.Factor{totp, key}, pwd, false,
			got{Kind: twostep.NextSecondStep, Choices: []string{"totp:totp", "recovery_code:"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := twostep.Decide(twostep.SignInState{Account: member, Org: tt.org, Offered: all, Factors: tt.factors,
				RecoveryCodes: 10, Proven: tt.proven, Remembered: tt.remembered, RequireSecondStep: true,
				RequirePhishingResistant: true, Now: now})
			g := got{Kind: n.Kind, Allowed: n.Allowed, Grace: !n.GraceUntil.IsZero()}
			for _, c := range n.Choices {
				id := ""
				if c.Factor != nil {
					id = c.Factor.ID
				}
				g.Choices = append(g.Choices, string(c.Method)+":"+id)
			}
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
