package twostep

import "time"

// Role is what a member may do in an organisation.
type Role string

// Roles, from most to least powerful.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r == RoleOwner || r == RoleAdmin || r == RoleMember }

// Method is a way to prove the second step.
type Method string

// Methods. MethodRecoveryCode is offered at sign-in but is not a factor.
const (
	MethodTOTP         Method = "totp"
	MethodEmail        Method = "email"
	MethodSMS          Method = "sms"
	MethodVoice        Method = "voice"
	MethodRecoveryCode Method = "recovery_code"
	// MethodWebAuthn is a passkey or security key (API.md §11), offered only
	// when the base URL's host is a name (WebAuthnOffered).
	MethodWebAuthn Method = "webauthn"
)

// delivers reports whether m's codes are sent by Twostep (rather than made by an
// app or printed beforehand).
func (m Method) delivers() bool { return m == MethodEmail || m == MethodSMS || m == MethodVoice }

// AMR returns the RFC 8176 authentication method reference a session earns by m.
func (m Method) AMR() string {
	switch m {
	case MethodTOTP:
		return "otp"
	case MethodEmail:
		return "mail"
	case MethodSMS:
		return "sms"
	case MethodVoice:
		return "tel"
	case MethodRecoveryCode:
		return "rcv"
	case MethodWebAuthn:
		return "hwk"
	}
	return ""
}

// FactorStatus says whether a factor has been proven yet.
type FactorStatus string

// Factor statuses.
const (
	FactorPending FactorStatus = "pending"
	FactorActive  FactorStatus = "active"
)

// Two-step policy values of an organisation.
const (
	PolicyOptional = "optional"
	PolicyRequired = "required"
)

// Policy is an organisation's two-step policy.
type Policy struct {
	TwoStep            string // PolicyOptional or PolicyRequired
	GracePeriodDays    int
	AllowedMethods     []Method
	MinClientVersion   string // "" for none
	AllowLegacyClients bool
	// RememberDeviceDays is how long a device a member asked to remember
	// spares them the second step (API.md §11): 0 turns it off, at most
	// MaxRememberDeviceDays.
	RememberDeviceDays int
	// AllowAppPasswords lets members make app passwords for old clients (§11).
	AllowAppPasswords bool
	// AdminsPhishingResistant: owners and admins must sign in with a passkey
	// or security key (ORG-03 for them): Decide offers them only
	// MethodWebAuthn, and leads those without one to enrol one.
	AdminsPhishingResistant bool
	// WebAuthnOffered records that the organisation's list of allowed methods
	// was brought up to date once this server offered MethodWebAuthn
	// (OfferWebAuthn), so that an owner who took it out does not get it back
	// at the next start.
	WebAuthnOffered bool
	ChangedAt       time.Time
}

// Org is an organisation: a product's customer, holding accounts and a policy.
type Org struct {
	ID        string
	Name      string
	Slug      string
	Policy    Policy
	CreatedAt time.Time
	// SSOConnected: the organisation has an SSO connection (read with it,
	// never written through UpdateOrg).
	SSOConnected bool
}

// HasSSOConnection reports whether the organisation has its own identity
// provider (API.md §12), without which an SSO member cannot sign in.
func (o *Org) HasSSOConnection() bool { return o.SSOConnected }

// Account is a person who signs in. E-mail addresses are unique across the server.
type Account struct {
	ID                 string
	OrgID              string
	Email              string
	PasswordHash       string // "" until a password is set
	Role               Role
	SSO                bool
	Locale             string // "" until chosen or adopted from the browser (adoptLocale): pages follow the browser, messages are in English
	AllowLegacyClients bool
	TwoStepSince       time.Time // zero while two-step is off
	CreatedAt          time.Time
	LastSignInAt       time.Time
}

// TwoStepEnabled reports whether the account has an active second step.
func (a *Account) TwoStepEnabled() bool { return !a.TwoStepSince.IsZero() }

// Factor is one second-step method of an account. For TOTP, Secret holds the
// sealed seed; for e-mail and phone, Address holds where codes go.
type Factor struct {
	ID        string
	AccountID string
	Method    Method
	Status    FactorStatus
	Label     string
	Secret    []byte
	Address   string
	Channels  []Method // for a phone: every channel the number takes (MethodSMS, MethodVoice)
	// Credential is a webauthn factor's public key credential, nil while
	// the factor is pending.
	Credential   *Credential
	LastTOTPStep int64
	Default      bool
	CreatedAt    time.Time
	ConfirmedAt  time.Time
	LastUsedAt   time.Time
}

// RecoveryCode is one stored look-up secret: an HMAC of the code with its own salt.
type RecoveryCode struct {
	ID        string
	AccountID string
	KeyID     string
	Salt      []byte
	Hash      []byte
	CreatedAt time.Time
	UsedAt    time.Time
}

// Purpose is what a challenge (a token or code held by the server) may be used for.
type Purpose string

// Challenge purposes. A token or code made for one purpose never serves another.
const (
	PurposeSignIn          Purpose = "sign_in"
	PurposeEnrol           Purpose = "enrol"
	PurposeConfirmIdentity Purpose = "confirm_identity"
	PurposeSetup           Purpose = "setup"
	PurposeSetPassword     Purpose = "set_password"
	PurposeEmailChange     Purpose = "email_change"
	PurposePasswordReset   Purpose = "password_reset"
	PurposeInvite          Purpose = "invite"
	// PurposeEnrolSignIn is a sign-in whose holder must first set up a method
	// the organisation requires; its token only enrols.
	PurposeEnrolSignIn Purpose = "enrol_sign_in"
	// PurposePasskeySignIn is a passwordless sign-in (API.md §11): a
	// challenge of no account until a passkey answers it.
	PurposePasskeySignIn Purpose = "passkey_sign_in"
)

// Challenge is a single-use server-side step: a sign-in in progress, a code sent,
// a set-password or setup link. TokenHash is the SHA-256 of the token the caller
// holds; CodeHash that of the code sent, if any.
type Challenge struct {
	ID        string
	TokenHash []byte
	Purpose   Purpose
	AccountID string // "" for setup
	SessionID string // the session a confirm_identity or email_change code belongs to
	FactorID  string // the factor the live code was sent for
	Method    Method // the method of the live code
	// Address is where the live code went (for email_change, the new address).
	Address       string
	CodeHash      []byte // HMAC of the live code; a new code replaces it (OOB-06)
	CodeExpiresAt time.Time
	Attempts      int
	Sends         int
	LastSentAt    time.Time
	LastChannel   string   // the channel of the last send, for the per-channel cooldown
	AMR           []string // what the holder has proven so far
	// Upstream is the provider's answer of an SSO sign-in (API.md §12), nil
	// for any other; stored with the challenge, never updated.
	Upstream *Upstream
	// WebAuthn is the live WebAuthn ceremony of this challenge (its random
	// challenge and what the answer must match), nil when none: a new one
	// replaces it, and answering takes it (TakeWebAuthn), right or wrong (WA-01).
	WebAuthn   []byte
	CreatedAt  time.Time
	ExpiresAt  time.Time
	ConsumedAt time.Time
}

// Session is a signed-in browser or program. TokenHash is the SHA-256 of its token.
type Session struct {
	ID         string
	TokenHash  []byte
	AccountID  string
	AMR        []string
	SecondStep SecondStep // how its second step was met
	Legacy     bool       // signed in by a legacy client with the password alone
	// AppPasswordID is the app password an old client signed in with, ""
	// for none: such a session reaches no security setting (API.md §11).
	AppPasswordID  string
	ConfirmedUntil time.Time
	CreatedAt      time.Time
	LastSeenAt     time.Time
	IdleExpiresAt  time.Time
	ExpiresAt      time.Time
	IP             string
	UserAgent      string
	// ForwardToken is the forward-auth token (API.md §8), set only on the
	// Session its creation returns, when forward auth is set up; only its
	// hash is stored.
	ForwardToken string
}

// Throttle counts failures under one key ("account:ID", "email:ADDR", "ip:ADDR",
// "device:ID", "reauth:ID").
type Throttle struct {
	Key          string
	Failures     int // consecutive, reset by a success
	HourStart    time.Time
	HourFailures int
	LockedUntil  time.Time
}

// AuditEvent is one append-only record of something that happened to an account
// or organisation. Detail never holds a code, secret, password or token.
type AuditEvent struct {
	ID        int64
	At        time.Time
	Type      EventType
	OrgID     string
	ActorID   string
	AccountID string
	IP        string
	UserAgent string
	Detail    map[string]any
}

// EventFilter selects audit events, newest first. Before is an event id (0: none).
type EventFilter struct {
	OrgID     string
	AccountID string
	Type      EventType
	Before    int64
	Limit     int
}

// DevMessage is a message kept by the dev outbox instead of being sent.
type DevMessage struct {
	ID      string
	Channel string // "email", "sms", "voice"
	To      string
	Subject string
	Text    string
	At      time.Time
}

// KeepFinished is how long sent or failed messages, and throttles with no
// recent failure, are kept before DeleteExpired removes them.
const KeepFinished = 7 * 24 * time.Hour

// Outbox message states.
const (
	MessagePending = "pending"
	MessageSent    = "sent"
	MessageFailed  = "failed"
)

// OutboxMessage is a message written in the same transaction as what it tells,
// then delivered by a worker with retries. Payload is the sealed JSON of the
// template data (it may hold a code), bound to ID; it is wiped once sent.
type OutboxMessage struct {
	ID            string
	Channel       string // "email", "sms" or "voice"
	To            string
	Locale        string
	Template      string
	Payload       []byte
	ChallengeID   string // the challenge whose code it delivers, if any
	Status        string // MessagePending, MessageSent or MessageFailed
	Attempts      int
	NextAttemptAt time.Time
	LeaseUntil    time.Time // a worker holds it until then
	ExpiresAt     time.Time // delivering after this is pointless (the code expired)
	Error         string    // the last delivery error, for the operator; never the code
	Permanent     bool      // the provider refused it for good
	ProviderID    string
	CreatedAt     time.Time
	SentAt        time.Time
}
