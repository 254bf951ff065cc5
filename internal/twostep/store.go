package twostep

import (
	"context"
	"time"
)

// Store keeps everything Twostep knows. Implementations return ErrNotFound when a
// looked-up row does not exist and ErrConflict when a unique value is taken.
// Methods that report whether they did something (Use…, Consume…) are single
// atomic statements: of N concurrent calls for the same row at most one reports true.
type Store interface {
	// Atomic runs fn in one write transaction; the Store handed to fn reads and
	// writes through it, and fn must use no other (on SQLite the one writer is
	// busy with fn). An error from fn rolls everything back and is returned.
	Atomic(ctx context.Context, fn func(Store) error) error
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error

	CreateOrg(ctx context.Context, o *Org) error
	Org(ctx context.Context, id string) (*Org, error)
	OrgBySlug(ctx context.Context, slug string) (*Org, error)
	UpdateOrg(ctx context.Context, o *Org) error
	CountOrgs(ctx context.Context) (int, error)

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

	// ReplaceRecoveryCodes deletes the account's codes and stores codes instead.
	ReplaceRecoveryCodes(ctx context.Context, accountID string, codes []*RecoveryCode) error
	// RecoveryCodes lists the account's unused codes.
	RecoveryCodes(ctx context.Context, accountID string) ([]*RecoveryCode, error)
	// UseRecoveryCode marks an unused code used and reports whether it did.
	UseRecoveryCode(ctx context.Context, id string, at time.Time) (bool, error)
	DeleteRecoveryCodes(ctx context.Context, accountID string) error

	CreateChallenge(ctx context.Context, c *Challenge) error
	Challenge(ctx context.Context, id string) (*Challenge, error)
	ChallengeByToken(ctx context.Context, tokenHash []byte) (*Challenge, error)
	// ChallengeWithAccount returns the challenge with tokenHash and the account
	// it belongs to; ErrNotFound if there is none or it belongs to no account.
	ChallengeWithAccount(ctx context.Context, tokenHash []byte) (*Challenge, *Account, error)
	// UpdateChallenge writes SessionID, FactorID, Method, Address, CodeHash,
	// CodeExpiresAt, Sends, LastSentAt, LastChannel, AMR and ExpiresAt.
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
	// DeleteExpired removes challenges, sessions and devices that ended before
	// t, and outbox messages finished and throttles idle for KeepFinished before t.
	DeleteExpired(ctx context.Context, t time.Time) error

	CreateSession(ctx context.Context, s *Session) error
	SessionByToken(ctx context.Context, tokenHash []byte) (*Session, error)
	// TouchSession moves the session's idle expiry forward.
	TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time) error
	DeleteSession(ctx context.Context, id string) error
	// DeleteSessions ends every session of the account except the one with id except.
	DeleteSessions(ctx context.Context, accountID, except string) error

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

	// Throttle reads the throttle under key; a zero Throttle with that key if none.
	Throttle(ctx context.Context, key string) (Throttle, error)
	// Throttles reads the throttles under keys that exist, in no given order.
	Throttles(ctx context.Context, keys []string) ([]Throttle, error)
	// LockThrottle is Throttle for use inside Atomic: it creates the row if needed
	// and holds it so that concurrent transactions on the same key take turns.
	LockThrottle(ctx context.Context, key string) (Throttle, error)
	PutThrottle(ctx context.Context, t Throttle) error

	// AppendEvent stores e and sets its ID, which grows with every event.
	AppendEvent(ctx context.Context, e *AuditEvent) error
	Events(ctx context.Context, f EventFilter) ([]*AuditEvent, error)

	// LatestChallenge returns the newest unconsumed challenge of the account with
	// purpose p; ErrNotFound if none.
	LatestChallenge(ctx context.Context, accountID string, p Purpose) (*Challenge, error)

	// EnqueueMessage stores a pending message, due at NextAttemptAt.
	EnqueueMessage(ctx context.Context, m *OutboxMessage) error
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
	// LastMessage returns the newest message of a challenge on channel ("" for
	// any); ErrNotFound if none.
	LastMessage(ctx context.Context, challengeID, channel string) (*OutboxMessage, error)
	// LastMessageTo returns the newest message on channel to the address to;
	// ErrNotFound if none.
	LastMessageTo(ctx context.Context, channel, to string) (*OutboxMessage, error)
	// MessageByProvider returns the message the provider took under
	// providerID; ErrNotFound if none.
	MessageByProvider(ctx context.Context, providerID string) (*OutboxMessage, error)
	// PendingMessages counts messages not yet sent nor given up.
	PendingMessages(ctx context.Context) (int, error)

	// SealedFactors returns up to limit factors holding a sealed secret, by id,
	// after the id after; SealedMessages the same for pending messages.
	SealedFactors(ctx context.Context, after string, limit int) ([]*Factor, error)
	SealedMessages(ctx context.Context, after string, limit int) ([]*OutboxMessage, error)
	// ResealFactor and ResealMessage replace a sealed value if it is still old,
	// and report whether they did: a concurrent change wins.
	ResealFactor(ctx context.Context, id string, old, sealed []byte) (bool, error)
	ResealMessage(ctx context.Context, id string, old, sealed []byte) (bool, error)

	AddDevMessage(ctx context.Context, m *DevMessage) error
	// DevMessages lists kept messages, newest first.
	DevMessages(ctx context.Context, limit int) ([]*DevMessage, error)

	OIDCStore
	APIKeyStore
	VerifyStore
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
