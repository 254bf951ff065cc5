package twostep

import (
	"context"
	"time"
)

// Store keeps everything the Service knows: one port per aggregate, composed.
// Implementations return ErrNotFound when a looked-up row does not exist and
// ErrConflict when a unique value is taken. Methods that report whether they did
// something (Use…, Consume…, Reseal…, Renew…) are single atomic statements: of
// N concurrent calls for the same row at most one reports true.
//
// What only the operator's commands or tests need (deleting what expired,
// counting the backlog) and what only the delivery worker needs (claiming
// messages: DeliveryQueue) are not part of it: they use the store's own type.
type Store interface {
	// Atomic runs fn in one write transaction and hands it ctx marked as
	// inside it, and the Store that reads and writes through the transaction.
	// fn must use that Store, with that ctx or one derived from it: the store
	// Atomic was called on refuses, with an error, a call made with the marked
	// ctx (on SQLite its one writer is busy with fn: the call would wait for
	// ever). An error from fn rolls everything back and is returned. Atomic on
	// the Store handed to fn joins the transaction.
	Atomic(ctx context.Context, fn func(ctx context.Context, tx Store) error) error
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error

	Orgs
	Accounts
	Factors
	RecoveryCodes
	Challenges
	Sessions
	Devices
	AppPasswords
	Throttles
	Audit
	Outbox
	Reseal
	DevOutbox
}

// Orgs keeps organisations and their policies.
type Orgs interface {
	CreateOrg(ctx context.Context, o *Org) error
	Org(ctx context.Context, id string) (*Org, error)
	OrgBySlug(ctx context.Context, slug string) (*Org, error)
	UpdateOrg(ctx context.Context, o *Org) error
	CountOrgs(ctx context.Context) (int, error)
	// OrgIDs lists the id of every organisation.
	OrgIDs(ctx context.Context) ([]string, error)
}

// Accounts keeps accounts.
type Accounts interface {
	CreateAccount(ctx context.Context, a *Account) error
	Account(ctx context.Context, id string) (*Account, error)
	// AccountByEmail finds an account by its e-mail, compared case-insensitively.
	AccountByEmail(ctx context.Context, email string) (*Account, error)
	// Accounts lists the accounts of an organisation, by e-mail.
	Accounts(ctx context.Context, orgID string) ([]*Account, error)
	UpdateAccount(ctx context.Context, a *Account) error
	// SetLastSignIn moves only the account's last sign-in time: the hot path of
	// every sign-in writes one column, not the row and its indexes.
	// ErrNotFound if there is no such account.
	SetLastSignIn(ctx context.Context, accountID string, at time.Time) error
	// AdoptLocale sets the account's locale only if none is chosen yet (""),
	// and reports whether it did: a choice made meanwhile stands.
	AdoptLocale(ctx context.Context, accountID, locale string) (bool, error)
}

// Factors keeps the second-step methods of accounts.
type Factors interface {
	CreateFactor(ctx context.Context, f *Factor) error
	Factor(ctx context.Context, id string) (*Factor, error)
	// Factors lists an account's factors, oldest first.
	Factors(ctx context.Context, accountID string) ([]*Factor, error)
	// UpdateFactor writes every field but ID, AccountID, CreatedAt and
	// LastTOTPStep, which only UseTOTPStep moves.
	UpdateFactor(ctx context.Context, f *Factor) error
	DeleteFactor(ctx context.Context, id string) error
	DeleteFactors(ctx context.Context, accountID string) error
	// UseTOTPStep records step as the factor's last accepted TOTP step if it is
	// greater than the one recorded, and reports whether it did.
	UseTOTPStep(ctx context.Context, factorID string, step int64, at time.Time) (bool, error)
	// FactorByCredentialID returns the webauthn factor whose credential has
	// id; ErrNotFound if none. CreateFactor and UpdateFactor return
	// ErrConflict for a credential id another factor has (WA-05).
	FactorByCredentialID(ctx context.Context, id []byte) (*Factor, error)
}

// RecoveryCodes keeps accounts' recovery codes (their keyed hashes).
type RecoveryCodes interface {
	// ReplaceRecoveryCodes deletes the account's codes and stores codes instead.
	ReplaceRecoveryCodes(ctx context.Context, accountID string, codes []*RecoveryCode) error
	// RecoveryCodes lists the account's unused codes.
	RecoveryCodes(ctx context.Context, accountID string) ([]*RecoveryCode, error)
	// UseRecoveryCode marks an unused code used and reports whether it did.
	UseRecoveryCode(ctx context.Context, id string, at time.Time) (bool, error)
	DeleteRecoveryCodes(ctx context.Context, accountID string) error
}

// Challenges keeps sign-ins in progress, enrolments and identity confirmations.
type Challenges interface {
	CreateChallenge(ctx context.Context, c *Challenge) error
	Challenge(ctx context.Context, id string) (*Challenge, error)
	ChallengeByToken(ctx context.Context, tokenHash []byte) (*Challenge, error)
	// ChallengeWithAccount returns the challenge with tokenHash and the account
	// it belongs to; ErrNotFound if there is none or it belongs to no account.
	ChallengeWithAccount(ctx context.Context, tokenHash []byte) (*Challenge, *Account, error)
	// LatestChallenge returns the newest unconsumed challenge of the account with
	// purpose p; ErrNotFound if none.
	LatestChallenge(ctx context.Context, accountID string, p Purpose) (*Challenge, error)
	// UpdateChallenge writes SessionID, FactorID, Method, Address, CodeHash,
	// CodeExpiresAt, Sends, LastSentAt, LastChannel, AMR, WebAuthn and ExpiresAt.
	UpdateChallenge(ctx context.Context, c *Challenge) error
	// CountChallengeAttempt adds one to the attempts of an unconsumed challenge and
	// returns it as it now is (holding its row within Atomic); ErrNotFound if it
	// does not exist or is consumed.
	CountChallengeAttempt(ctx context.Context, id string) (*Challenge, error)
	// ConsumeChallenge marks the challenge consumed if it is not yet, and reports
	// whether this call did it.
	ConsumeChallenge(ctx context.Context, id string, at time.Time) (bool, error)
	// ConsumeChallenges marks every unconsumed challenge of the account with one of the purposes consumed at at.
	ConsumeChallenges(ctx context.Context, accountID string, at time.Time, purposes ...Purpose) error
	// TakeWebAuthn returns the challenge's WebAuthn ceremony and clears it, in
	// one statement: of N concurrent calls one gets it (WA-01); nil when it
	// has none; ErrNotFound if there is no such challenge.
	TakeWebAuthn(ctx context.Context, id string) ([]byte, error)
}

// Sessions keeps signed-in sessions.
type Sessions interface {
	CreateSession(ctx context.Context, s *Session) error
	SessionByToken(ctx context.Context, tokenHash []byte) (*Session, error)
	// TouchSession moves the session's idle expiry forward.
	TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time) error
	DeleteSession(ctx context.Context, id string) error
	// DeleteSessions ends every session of the account except the one with id except.
	DeleteSessions(ctx context.Context, accountID, except string) error
	// AccountSessions returns the account's sessions not yet deleted, ended
	// ones included, the most recently seen first.
	AccountSessions(ctx context.Context, accountID string) ([]*Session, error)
	// DeleteAccountSession deletes the account's session id; false when the
	// account has no such session.
	DeleteAccountSession(ctx context.Context, accountID, id string) (bool, error)
	// CreatePendingAction stores p; it fails when its session is gone.
	CreatePendingAction(ctx context.Context, p *PendingAction) error
	// PendingAction returns the pending action id of session sessionID, live
	// or not, or ErrNotFound.
	PendingAction(ctx context.Context, id, sessionID string) (*PendingAction, error)
	// TakePendingAction deletes and returns the pending action id of session
	// sessionID unless it expired by now, in one statement; ErrNotFound when
	// there is no such live action.
	TakePendingAction(ctx context.Context, id, sessionID string, now time.Time) (*PendingAction, error)
}

// Devices keeps remembered devices.
type Devices interface {
	// CreateDevice stores d; ErrConflict if its id or token hash is taken.
	CreateDevice(ctx context.Context, d *Device) error
	// DeviceByToken returns the device with tokenHash, expired or not, or ErrNotFound.
	DeviceByToken(ctx context.Context, tokenHash []byte) (*Device, error)
	// RenewDevice gives the device of d.AccountID whose token hash is oldHash,
	// if it has not expired by d.LastUsedAt, d's TokenHash, LastUsedAt,
	// ExpiresAt, IP and UserAgent, fills in d's ID and CreatedAt, and reports
	// whether there was such a device. One statement: of concurrent renewals
	// of one token, one wins.
	RenewDevice(ctx context.Context, oldHash []byte, d *Device) (bool, error)
	// Devices lists the account's devices, expired or not, oldest first.
	Devices(ctx context.Context, accountID string) ([]*Device, error)
	// RememberDevice marks the account's device id remembered from at until
	// until; false if the account has no such device.
	RememberDevice(ctx context.Context, accountID, id string, at, until time.Time) (bool, error)
	// ForgetDevices ends the remembering of every device of the account that
	// is remembered beyond now, and returns how many there were.
	ForgetDevices(ctx context.Context, accountID string, now time.Time) (int, error)
	// DeleteDevice removes the account's device id; false if it has none such.
	DeleteDevice(ctx context.Context, accountID, id string) (bool, error)
	// DeleteDevices removes every device of the account and returns how many.
	DeleteDevices(ctx context.Context, accountID string) (int, error)
}

// AppPasswords keeps the app passwords of old clients (API.md §11).
type AppPasswords interface {
	// CreateAppPassword stores p; ErrConflict if its id or hash is taken.
	CreateAppPassword(ctx context.Context, p *AppPassword) error
	// AppPasswords lists the account's app passwords, oldest first.
	AppPasswords(ctx context.Context, accountID string) ([]*AppPassword, error)
	// UseAppPassword records a sign-in with the account's app password whose
	// hash is hash, at at from ip, and returns it; ErrNotFound when the
	// account has none such (never had, or revoked). One statement: a
	// revocation either comes before it or after.
	UseAppPassword(ctx context.Context, accountID string, hash []byte, at time.Time, ip string) (*AppPassword, error)
	// DeleteAppPassword removes the account's app password id and ends the
	// sessions made with it; false if the account has none such.
	DeleteAppPassword(ctx context.Context, accountID, id string) (bool, error)
}

// Throttles keeps the failure counts and lockouts of rate limits.
type Throttles interface {
	// Throttle reads the throttle under key; a zero Throttle with that key if none.
	Throttle(ctx context.Context, key string) (Throttle, error)
	// Throttles reads the throttles under keys that exist, in no given order.
	Throttles(ctx context.Context, keys []string) ([]Throttle, error)
	// LockThrottle is Throttle for use inside Atomic: it creates the row if needed
	// and holds it so that concurrent transactions on the same key take turns.
	LockThrottle(ctx context.Context, key string) (Throttle, error)
	PutThrottle(ctx context.Context, t Throttle) error
}

// Audit keeps the append-only audit trail.
type Audit interface {
	// AppendEvent stores e and sets its ID, which grows with every event.
	AppendEvent(ctx context.Context, e *AuditEvent) error
	Events(ctx context.Context, f EventFilter) ([]*AuditEvent, error)
}

// Outbox keeps the messages to deliver, as the Service sees them: it queues
// them in the transaction of what they tell, and looks at what became of them.
// The delivery worker takes them through DeliveryQueue.
type Outbox interface {
	// EnqueueMessage stores a pending message, due at NextAttemptAt.
	EnqueueMessage(ctx context.Context, m *OutboxMessage) error
	// FinishMessage is DeliveryQueue.FinishMessage: the Service records a
	// delivery that a provider reported as failed after taking it.
	FinishMessage(ctx context.Context, m *OutboxMessage) error
	// LastMessage returns the newest message of a challenge on channel ("" for
	// any); ErrNotFound if none.
	LastMessage(ctx context.Context, challengeID, channel string) (*OutboxMessage, error)
	// LastMessageTo returns the newest message on channel to the address to;
	// ErrNotFound if none.
	LastMessageTo(ctx context.Context, channel, to string) (*OutboxMessage, error)
	// MessageByProvider returns the message the provider took under
	// providerID; ErrNotFound if none.
	MessageByProvider(ctx context.Context, providerID string) (*OutboxMessage, error)
}

// DeliveryQueue is the outbox as the delivery worker (notify.Worker) sees it:
// claim due messages, record each attempt's outcome. It is declared here rather
// than in notify because its two sides are adapters that never see each other
// (store implements it, notify consumes it) and the Service shares its rules
// (the lease, the fence on FinishMessage): the contract must live where both read it.
type DeliveryQueue interface {
	// ClaimMessages leases up to limit pending messages due at now, none that
	// another worker holds (FOR UPDATE SKIP LOCKED on PostgreSQL), until
	// leaseUntil; it adds one to their attempts and returns them. A message whose
	// lease ran out (its worker died) is due again.
	ClaimMessages(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*OutboxMessage, error)
	// FinishMessage records the outcome of an attempt: Status, NextAttemptAt,
	// Error, Permanent, ProviderID and SentAt; it clears the lease, and the
	// payload once the message is sent or failed. m.Attempts, as its claim
	// returned it, fences the write: if another worker has claimed the message
	// since (this worker's lease ran out), FinishMessage changes nothing and
	// returns ErrConflict, and the other worker's outcome stands.
	FinishMessage(ctx context.Context, m *OutboxMessage) error
}

// Reseal walks the sealed values for a key rotation.
type Reseal interface {
	// SealedFactors returns up to limit factors holding a sealed secret, by id,
	// after the id after; SealedMessages the same for pending messages, and
	// SealedVerifyFactors for the Verify API's factors, by sid.
	SealedFactors(ctx context.Context, after string, limit int) ([]*Factor, error)
	SealedMessages(ctx context.Context, after string, limit int) ([]*OutboxMessage, error)
	SealedVerifyFactors(ctx context.Context, after string, limit int) ([]*VerifyFactor, error)
	// ResealFactor, ResealMessage and ResealVerifyFactor replace a sealed value
	// if it is still old, and report whether they did: a concurrent change wins.
	ResealFactor(ctx context.Context, id string, old, sealed []byte) (bool, error)
	ResealMessage(ctx context.Context, id string, old, sealed []byte) (bool, error)
	ResealVerifyFactor(ctx context.Context, sid string, old, sealed []byte) (bool, error)
}

// DevOutbox keeps the messages of dev mode, shown at /dev/outbox instead of
// being sent: notify's dev transport adds them, the Service lists them.
type DevOutbox interface {
	// AddDevMessage stores m; ErrConflict if its id is taken.
	AddDevMessage(ctx context.Context, m *DevMessage) error
	// DevMessages lists kept messages, newest first.
	DevMessages(ctx context.Context, limit int) ([]*DevMessage, error)

	OIDCStore
	ForwardStore
	APIKeyStore
	VerifyStore
	OIDCCodeIssuer
	SessionRenewer
	SSOStore
}

// OIDCCodeIssuer makes an authorization code's single use and the revocation
// of what it issued one decision (OP-01): the tokens of a used code are
// issued only after ClaimCodeIssue, and a second use calls RevokeAuthCode
// before revoking the chain, in one transaction. Each is one conditional
// statement on the request's row, so whichever comes second sees the first.
type OIDCCodeIssuer interface {
	// ClaimCodeIssue marks that the tokens of request id's used code are
	// being issued, unless they were or the code was revoked; it reports
	// whether it did.
	ClaimCodeIssue(ctx context.Context, id string, at time.Time) (bool, error)
	// RevokeAuthCode marks request id's code revoked (again: no error).
	RevokeAuthCode(ctx context.Context, id string, at time.Time) error
}

// SessionRenewer renews a session in place, keeping its id: the id is the
// session's sid, which products hold in their ID tokens and which links them
// to the session for back-channel logout (API.md §7).
type SessionRenewer interface {
	// RenewSession writes every field of s but its id and account (a new
	// token hash, AMR, second step, expiries…) over the session s.ID of
	// s.AccountID, in one statement; false if there is no such session.
	RenewSession(ctx context.Context, s *Session) (bool, error)
}

// Message is something to tell a person: which template, in which language,
// filled with Data. The notify package owns the words; the domain only says
// what happened. Data never holds a password or a secret; it holds a code or a
// link only for the templates that deliver one.
type Message struct {
	Channel  string // "email", "sms" or "voice"
	To       string
	Locale   string
	Template string
	Data     map[string]string
}
