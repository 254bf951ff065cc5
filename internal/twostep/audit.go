package twostep

import (
	"encoding/json"
	"fmt"
	"time"
)

// EventType names what an audit event records. Only the constants below are
// ever written: each comes with its own detail type, which names it.
type EventType string

// Audit event types (API.md §3.3).
const (
	EventAccountCreated         EventType = "account.created"
	EventAccountImported        EventType = "account.imported"
	EventAccountUnlocked        EventType = "account.unlocked"
	EventAppPasswordCreated     EventType = "app_password.created"
	EventAppPasswordRevoked     EventType = "app_password.revoked"
	EventAPIKeyCreated          EventType = "api_key.created"
	EventAPIKeyRevoked          EventType = "api_key.revoked"
	EventAPIKeyUsed             EventType = "api_key.used"
	EventDeliveryCapped         EventType = "delivery.capped"
	EventDeliveryFailed         EventType = "delivery.failed"
	EventDeviceRemembered       EventType = "device.remembered"
	EventDeviceForgotten        EventType = "device.forgotten"
	EventEmailChanged           EventType = "email.changed"
	EventFactorAdded            EventType = "factor.added"
	EventFactorRemoved          EventType = "factor.removed"
	EventIdentityConfirmed      EventType = "identity.confirmed"
	EventLegacyClientsChanged   EventType = "legacy_clients.changed"
	EventMemberChanged          EventType = "member.changed"
	EventPasswordChanged        EventType = "password.changed"
	EventPasswordReset          EventType = "password.reset"
	EventPolicyChanged          EventType = "policy.changed"
	EventRecoveryCodeUsed       EventType = "recovery_code.used"
	EventRecoveryCodesGenerated EventType = "recovery_codes.generated"
	EventSecondStepFailed       EventType = "second_step.failed"
	EventSecondStepLocked       EventType = "second_step.locked"
	EventSecondStepReplayed     EventType = "second_step.replayed"
	EventSessionsEnded          EventType = "sessions.ended"
	EventSignInFailed           EventType = "sign_in.failed"
	EventSignInLocked           EventType = "sign_in.locked"
	EventSignInSucceeded        EventType = "sign_in.succeeded"
	EventTwoStepDisabled        EventType = "two_step.disabled"
	EventTwoStepEnabled         EventType = "two_step.enabled"
	EventTwoStepResetByAdmin    EventType = "two_step.reset_by_admin"
	EventFactorRenamed          EventType = "factor.renamed"
	EventWebAuthnSignCount      EventType = "webauthn.sign_count_regressed"
)

// EventDetail is what an audit event says beyond who, when and where: one
// struct per event type. Details never hold a code, secret, password or token.
type EventDetail interface {
	EventType() EventType
}

// eventDetails makes an empty detail of each type, to decode stored events into.
var eventDetails = map[EventType]func() EventDetail{
	EventAccountCreated:         func() EventDetail { return &AccountCreated{} },
	EventAccountImported:        func() EventDetail { return &AccountImported{} },
	EventAccountUnlocked:        func() EventDetail { return &AccountUnlocked{} },
	EventAppPasswordCreated:     func() EventDetail { return &AppPasswordCreated{} },
	EventAppPasswordRevoked:     func() EventDetail { return &AppPasswordRevoked{} },
	EventAPIKeyCreated:          func() EventDetail { return &APIKeyCreated{} },
	EventAPIKeyRevoked:          func() EventDetail { return &APIKeyRevoked{} },
	EventAPIKeyUsed:             func() EventDetail { return &APIKeyUsed{} },
	EventDeliveryCapped:         func() EventDetail { return &DeliveryCapped{} },
	EventDeliveryFailed:         func() EventDetail { return &DeliveryFailed{} },
	EventDeviceRemembered:       func() EventDetail { return &DeviceRemembered{} },
	EventDeviceForgotten:        func() EventDetail { return &DeviceForgotten{} },
	EventEmailChanged:           func() EventDetail { return &EmailChanged{} },
	EventFactorAdded:            func() EventDetail { return &FactorAdded{} },
	EventFactorRemoved:          func() EventDetail { return &FactorRemoved{} },
	EventFactorRenamed:          func() EventDetail { return &FactorRenamed{} },
	EventWebAuthnSignCount:      func() EventDetail { return &WebAuthnSignCountRegressed{} },
	EventIdentityConfirmed:      func() EventDetail { return &IdentityConfirmed{} },
	EventLegacyClientsChanged:   func() EventDetail { return &LegacyClientsChanged{} },
	EventMemberChanged:          func() EventDetail { return &MemberChanged{} },
	EventPasswordChanged:        func() EventDetail { return &PasswordChanged{} },
	EventPasswordReset:          func() EventDetail { return &PasswordReset{} },
	EventPolicyChanged:          func() EventDetail { return &PolicyChanged{} },
	EventRecoveryCodeUsed:       func() EventDetail { return &RecoveryCodeUsed{} },
	EventRecoveryCodesGenerated: func() EventDetail { return &RecoveryCodesGenerated{} },
	EventSecondStepFailed:       func() EventDetail { return &SecondStepFailed{} },
	EventSecondStepLocked:       func() EventDetail { return &SecondStepLocked{} },
	EventSecondStepReplayed:     func() EventDetail { return &SecondStepReplayed{} },
	EventSessionsEnded:          func() EventDetail { return &SessionsEnded{} },
	EventSignInFailed:           func() EventDetail { return &SignInFailed{} },
	EventSignInLocked:           func() EventDetail { return &SignInLocked{} },
	EventSignInSucceeded:        func() EventDetail { return &SignInSucceeded{} },
	EventTwoStepDisabled:        func() EventDetail { return &TwoStepDisabled{} },
	EventTwoStepEnabled:         func() EventDetail { return &TwoStepEnabled{} },
	EventTwoStepResetByAdmin:    func() EventDetail { return &TwoStepResetByAdmin{} },
}

// EventTypes lists every event type Twostep writes.
func EventTypes() []EventType {
	out := make([]EventType, 0, len(eventDetails))
	for t := range eventDetails {
		out = append(out, t)
	}
	return out
}

// NewEventDetail returns an empty detail of type t; false for a type Twostep
// does not write.
func NewEventDetail(t EventType) (EventDetail, bool) {
	mk, ok := eventDetails[t]
	if !ok {
		return nil, false
	}
	return mk(), true
}

// DetailOf decodes the detail of a stored event into its type's struct. It
// returns an error for a type Twostep does not write or a detail that does not
// fit its type.
func DetailOf(e *AuditEvent) (EventDetail, error) {
	d, ok := NewEventDetail(e.Type)
	if !ok {
		return nil, fmt.Errorf("twostep: unknown audit event type %q", e.Type)
	}
	raw, err := json.Marshal(e.Detail)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, d); err != nil {
		return nil, fmt.Errorf("twostep: audit event %d detail: %w", e.ID, err)
	}
	return d, nil
}

// detailMap turns a detail into the map an AuditEvent keeps (and the API shows).
func detailMap(d EventDetail) (map[string]any, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	return out, json.Unmarshal(raw, &out)
}

// The details, one per event type.
type (
	// AccountCreated: by the operator, at setup, or by an invitation.
	AccountCreated struct {
		Role    Role `json:"role"`
		SSO     bool `json:"sso"`
		Invited bool `json:"invited,omitempty"`
		Again   bool `json:"again,omitempty"` // a new invitation to someone already invited
	}
	// AccountImported: by the operator's import (API.md §9), with the scheme
	// of the password hash it brought ("" for none) and the second-step
	// methods it keeps; Invited when a set-password invitation went out.
	AccountImported struct {
		Role    Role     `json:"role"`
		SSO     bool     `json:"sso"`
		Scheme  string   `json:"scheme,omitempty"`
		Methods []Method `json:"methods,omitempty"`
		Invited bool     `json:"invited,omitempty"`
	}
	// AccountUnlocked: an admin cleared the account's locks, of these kinds.
	AccountUnlocked struct {
		Cleared []string `json:"cleared,omitempty"`
	}
	// APIKeyCreated and APIKeyRevoked: a Verify API key made or removed (API-01).
	APIKeyCreated struct {
		KeyID string `json:"key_id"`
		Name  string `json:"name"`
	}
	APIKeyRevoked struct {
		KeyID string `json:"key_id"`
		Name  string `json:"name"`
	}
	// APIKeyUsed: one request of the Verify API made with the key (API-01:
	// every use attributable): the operation ("verification.create",
	// "verification.check", …), the resource's SID and the outcome
	// ("pending", "approved", …). Never the code or the address it went to.
	APIKeyUsed struct {
		KeyID     string `json:"key_id"`
		Operation string `json:"operation"`
		SID       string `json:"sid,omitempty"`
		Outcome   string `json:"outcome,omitempty"`
	}
	// DeliveryCapped: a sending cap refused a code (OOB-10).
	DeliveryCapped struct {
		Cap     string `json:"cap"`
		Channel string `json:"channel"`
	}
	// DeliveryFailed: the provider took a message, then reported that it never
	// arrived (Reason is for the operator and holds no number or code).
	DeliveryFailed struct {
		Channel  string `json:"channel"`
		Template string `json:"template"`
		Reason   string `json:"reason"`
	}
	// EmailChanged: the account's address moved.
	EmailChanged struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	// FactorAdded and FactorRemoved: a method bound or unbound (AU-03).
	FactorAdded struct {
		FactorID string `json:"factor_id"`
		Method   Method `json:"method"`
	}
	FactorRemoved struct {
		FactorID string `json:"factor_id"`
		Method   Method `json:"method"`
	}
	// FactorRenamed: a method's label changed (never its secret).
	FactorRenamed struct {
		FactorID string `json:"factor_id"`
		Method   Method `json:"method"`
		Before   string `json:"before"`
		After    string `json:"after"`
	}
	// WebAuthnSignCountRegressed: a key answered with a signature counter
	// not above the one stored (WA-04): it may have been copied; the
	// assertion was refused and the key flagged.
	WebAuthnSignCountRegressed struct {
		FactorID  string `json:"factor_id"`
		Stored    uint32 `json:"stored"`
		Presented uint32 `json:"presented"`
	}
	// IdentityConfirmed: the password (and a second step) again, with what it proved.
	IdentityConfirmed struct {
		AMR []string `json:"amr"`
		// Provider: confirmed by a new sign-in at the organisation's provider.
		Provider string `json:"provider,omitempty"`
	}
	// LegacyClientsChanged: the account's own setting.
	LegacyClientsChanged struct {
		AllowLegacyClients bool `json:"allow_legacy_clients"`
	}
	// MemberChanged: a member's role or SSO flag, before and after.
	MemberChanged struct {
		Role Change[Role] `json:"role"`
		SSO  Change[bool] `json:"sso"`
	}
	// PasswordChanged: by the holder, or set through a link (Via "link").
	PasswordChanged struct {
		Via         string  `json:"via,omitempty"`
		Link        Purpose `json:"link,omitempty"`
		ChallengeID string  `json:"challenge_id,omitempty"`
	}
	// PasswordReset: set through a reset link.
	PasswordReset struct {
		Via         string  `json:"via,omitempty"`
		Link        Purpose `json:"link,omitempty"`
		ChallengeID string  `json:"challenge_id,omitempty"`
	}
	// PolicyChanged: the organisation's policy, before and after.
	PolicyChanged struct {
		Before PolicyDetail `json:"before"`
		After  PolicyDetail `json:"after"`
	}
	RecoveryCodeUsed       struct{}
	RecoveryCodesGenerated struct{}
	// SecondStepFailed: a wrong code by Method.
	SecondStepFailed struct {
		Method Method `json:"method"`
	}
	// SecondStepLocked: the account's back-off started, for Seconds.
	SecondStepLocked struct {
		Seconds int `json:"seconds"`
	}
	// SecondStepReplayed: a TOTP code used once came again (OTP-10).
	SecondStepReplayed struct {
		Method   Method `json:"method"`
		FactorID string `json:"factor_id"`
	}
	// SessionsEnded: "all" (an admin), "others" (the holder) or "one" (the
	// holder ended Session, another of their sessions).
	SessionsEnded struct {
		Which   string `json:"which"`
		Session string `json:"session,omitempty"`
	}
	// SignInFailed: a wrong password.
	SignInFailed struct {
		Reason string `json:"reason"`
	}
	// SignInLocked: one of the account's password keys locked until Until.
	SignInLocked struct {
		Key     string `json:"key"`
		Until   string `json:"until"` // RFC 3339
		Seconds int    `json:"seconds"`
	}
	// SignInSucceeded: a session, with how its second step was met.
	SignInSucceeded struct {
		AMR          []string   `json:"amr"`
		Method       Method     `json:"method,omitempty"`
		SecondStep   SecondStep `json:"second_step,omitempty"`
		Enrolled     bool       `json:"enrolled,omitempty"`
		GraceUntil   string     `json:"grace_until,omitempty"` // RFC 3339, when a grace period let it through
		LegacyClient string     `json:"legacy_client,omitempty"`
		// Device: the remembered device that spared the second step.
		Device string `json:"device,omitempty"`
		// AppPassword: the app password an old client signed in with.
		AppPassword string `json:"app_password,omitempty"`
		// Provider: the issuer of the organisation's identity provider
		// the sign-in came through (API.md §12), with the amr it gave.
		Provider    string   `json:"provider,omitempty"`
		UpstreamAMR []string `json:"upstream_amr,omitempty"`
		// Passwordless: a passkey was the whole sign-in.
		Passwordless bool `json:"passwordless,omitempty"`
	}
	TwoStepDisabled struct{}
	// TwoStepEnabled: the first method, by Method.
	TwoStepEnabled struct {
		Method Method `json:"method"`
	}
	TwoStepResetByAdmin struct{}
	// DeviceRemembered: the member asked that Device (its id) skip the second
	// step for Days, until Until (RFC 3339); Browser and Platform as its
	// User-Agent said them.
	DeviceRemembered struct {
		Device   string `json:"device"`
		Until    string `json:"until"`
		Days     int    `json:"days"`
		Browser  string `json:"browser,omitempty"`
		Platform string `json:"platform,omitempty"`
	}
	// AppPasswordCreated: the member made AppPassword (its id), labelled Label.
	AppPasswordCreated struct {
		AppPassword string `json:"app_password"`
		Label       string `json:"label"`
	}
	// AppPasswordRevoked: the member revoked AppPassword (its id).
	AppPasswordRevoked struct {
		AppPassword string `json:"app_password"`
	}
	// DeviceForgotten: Count devices stopped sparing the second step, for Why
	// (a Forgot constant); Device names it when the member removed one.
	DeviceForgotten struct {
		Device string `json:"device,omitempty"`
		Count  int    `json:"count"`
		Why    string `json:"why"`
	}
)

// Change is a value before and after.
type Change[T any] struct {
	Before T `json:"before"`
	After  T `json:"after"`
}

// PolicyDetail is a policy as the audit trail keeps it.
type PolicyDetail struct {
	TwoStep            string   `json:"two_step"`
	GracePeriodDays    int      `json:"grace_period_days"`
	AllowedMethods     []Method `json:"allowed_methods"`
	MinClientVersion   string   `json:"min_client_version"`
	AllowLegacyClients bool     `json:"allow_legacy_clients"`
	RememberDeviceDays int      `json:"remember_device_days"`
	AllowAppPasswords  bool     `json:"allow_app_passwords"`
	// AdminsPhishingResistant: owners and admins must use a passkey.
	AdminsPhishingResistant bool `json:"admins_phishing_resistant"`
}

func policyDetail(p Policy) PolicyDetail {
	methods := append([]Method{}, p.AllowedMethods...)
	return PolicyDetail{TwoStep: p.TwoStep, GracePeriodDays: p.GracePeriodDays, AllowedMethods: methods,
		MinClientVersion: p.MinClientVersion, AllowLegacyClients: p.AllowLegacyClients,
		RememberDeviceDays: p.RememberDeviceDays, AllowAppPasswords: p.AllowAppPasswords,
		AdminsPhishingResistant: p.AdminsPhishingResistant}
}

// GraceTime returns when the grace period that let the sign-in through ends.
func (d *SignInSucceeded) GraceTime() (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, d.GraceUntil)
	return t, err == nil
}

func (*AccountCreated) EventType() EventType             { return EventAccountCreated }
func (*AccountImported) EventType() EventType            { return EventAccountImported }
func (*AccountUnlocked) EventType() EventType            { return EventAccountUnlocked }
func (*APIKeyCreated) EventType() EventType              { return EventAPIKeyCreated }
func (*APIKeyRevoked) EventType() EventType              { return EventAPIKeyRevoked }
func (*APIKeyUsed) EventType() EventType                 { return EventAPIKeyUsed }
func (*DeliveryCapped) EventType() EventType             { return EventDeliveryCapped }
func (*DeviceRemembered) EventType() EventType           { return EventDeviceRemembered }
func (*AppPasswordCreated) EventType() EventType         { return EventAppPasswordCreated }
func (*AppPasswordRevoked) EventType() EventType         { return EventAppPasswordRevoked }
func (*DeviceForgotten) EventType() EventType            { return EventDeviceForgotten }
func (*DeliveryFailed) EventType() EventType             { return EventDeliveryFailed }
func (*EmailChanged) EventType() EventType               { return EventEmailChanged }
func (*FactorAdded) EventType() EventType                { return EventFactorAdded }
func (*FactorRemoved) EventType() EventType              { return EventFactorRemoved }
func (*FactorRenamed) EventType() EventType              { return EventFactorRenamed }
func (*WebAuthnSignCountRegressed) EventType() EventType { return EventWebAuthnSignCount }
func (*IdentityConfirmed) EventType() EventType          { return EventIdentityConfirmed }
func (*LegacyClientsChanged) EventType() EventType       { return EventLegacyClientsChanged }
func (*MemberChanged) EventType() EventType              { return EventMemberChanged }
func (*PasswordChanged) EventType() EventType            { return EventPasswordChanged }
func (*PasswordReset) EventType() EventType              { return EventPasswordReset }
func (*PolicyChanged) EventType() EventType              { return EventPolicyChanged }
func (*RecoveryCodeUsed) EventType() EventType           { return EventRecoveryCodeUsed }
func (*RecoveryCodesGenerated) EventType() EventType     { return EventRecoveryCodesGenerated }
func (*SecondStepFailed) EventType() EventType           { return EventSecondStepFailed }
func (*SecondStepLocked) EventType() EventType           { return EventSecondStepLocked }
func (*SecondStepReplayed) EventType() EventType         { return EventSecondStepReplayed }
func (*SessionsEnded) EventType() EventType              { return EventSessionsEnded }
func (*SignInFailed) EventType() EventType               { return EventSignInFailed }
func (*SignInLocked) EventType() EventType               { return EventSignInLocked }
func (*SignInSucceeded) EventType() EventType            { return EventSignInSucceeded }
func (*TwoStepDisabled) EventType() EventType            { return EventTwoStepDisabled }
func (*TwoStepEnabled) EventType() EventType             { return EventTwoStepEnabled }
func (*TwoStepResetByAdmin) EventType() EventType        { return EventTwoStepResetByAdmin }
