package twostep

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"net/url"
	"slices"
	"time"
)

// Passkeys and security keys (API.md §11). The ceremonies (CBOR, COSE,
// signatures, origin and RP ID checks) are go-webauthn's, behind the
// Authenticators port that main wires (internal/passkey); the rules are here:
// which keys an account may use, single-use expiring challenges held with the
// sign-in (WA-01), user verification inspected (WA-03), sign counts that go
// back refused and audited (WA-04), a credential bound to one account (WA-05).

// WebAuthnTTL is how long one WebAuthn ceremony (its random challenge) lives.
const WebAuthnTTL = 5 * time.Minute

// maxCredentialJSON bounds what a client may send as a credential.
const maxCredentialJSON = 64 << 10

// Credential is the public key credential of a webauthn factor (the
// specification's credential record). Nothing in it is secret.
type Credential struct {
	// ID is the credential id, unique across the server (WA-05).
	ID []byte `json:"id"`
	// PublicKey is the COSE key the assertions are checked with.
	PublicKey []byte `json:"public_key"`
	// SignCount is the highest signature counter seen (0 for keys that keep none).
	SignCount      uint32   `json:"sign_count"`
	AAGUID         []byte   `json:"aaguid,omitempty"`
	Transports     []string `json:"transports,omitempty"`
	BackupEligible bool     `json:"backup_eligible"`
	BackupState    bool     `json:"backup_state"`
	// UserVerified: the key verified its holder (PIN, biometrics) at least once.
	UserVerified bool `json:"user_verified"`
	// CloneWarning: a signature counter went back once (WA-04): the key may
	// have been copied.
	CloneWarning bool `json:"clone_warning,omitempty"`
	// Record is the adapter's full credential record (attestation included),
	// kept as it gave it.
	Record []byte `json:"record,omitempty"`
}

// PasskeyUser is an account as a WebAuthn ceremony sees it.
type PasskeyUser struct {
	// Handle is the user handle stored in the key: the account id, never the
	// e-mail address.
	Handle      []byte
	Name        string
	DisplayName string
	Credentials []*Credential
}

// Assertion is what a verified WebAuthn assertion says.
type Assertion struct {
	// Credential is the credential that signed, as it is now (sign count,
	// flags and clone warning moved by this assertion).
	Credential *Credential
	// UserVerified: this assertion's authenticator data has UV set.
	UserVerified bool
	// SignCount is this assertion's counter; SignCountRegressed reports that
	// it is not above the stored one while either is non-zero (WA-04).
	SignCount          uint32
	SignCountRegressed bool
}

// Authenticators runs WebAuthn ceremonies with the relying party (RP ID and
// origin) of TWOSTEP_BASE_URL. Options are the JSON of
// PublicKeyCredentialCreationOptions or PublicKeyCredentialRequestOptions;
// session is the adapter's record of a ceremony, which the Service keeps with
// its challenge and hands back once. Finish… return an *InvalidError for a
// response that is not a credential's JSON at all, ErrCredentialRefused
// (wrapped, with the reason for the log) for one that fails any check of the
// specification, and other errors for failures of their own.
type Authenticators interface {
	// BeginRegistration makes creation options for u; its Credentials are
	// excluded. Resident keys are preferred, user verification "preferred".
	BeginRegistration(u *PasskeyUser) (options json.RawMessage, session []byte, err error)
	FinishRegistration(u *PasskeyUser, session []byte, response json.RawMessage) (*Credential, error)
	// BeginLogin makes request options allowing u's Credentials.
	BeginLogin(u *PasskeyUser) (options json.RawMessage, session []byte, err error)
	// BeginDiscoverableLogin makes request options for any discoverable
	// credential of this relying party (passwordless sign-in).
	BeginDiscoverableLogin() (options json.RawMessage, session []byte, err error)
	FinishLogin(u *PasskeyUser, session []byte, response json.RawMessage) (*Assertion, error)
	// FinishDiscoverableLogin asks find for the user of the credential id and
	// user handle the response names (an error from find refuses it), then
	// verifies the response against that user's credentials.
	FinishDiscoverableLogin(session []byte, response json.RawMessage,
		find func(credentialID, userHandle []byte) (*PasskeyUser, error)) (*PasskeyUser, *Assertion, error)
}

// ErrCredentialRefused is a WebAuthn response that fails a check of the
// specification (WA-02): wrong type, challenge, origin, RP ID hash, missing
// user presence, bad signature, unknown credential.
var ErrCredentialRefused = errors.New("twostep: webauthn response refused")

// ceremony is a WebAuthn ceremony in progress, kept in Challenge.WebAuthn.
type ceremony struct {
	Kind      string    `json:"kind"` // ceremonyRegister, ceremonyLogin, ceremonyDiscoverable
	FactorID  string    `json:"factor_id,omitempty"`
	Session   []byte    `json:"session"`
	ExpiresAt time.Time `json:"expires_at"`
}

const (
	ceremonyRegister     = "register"
	ceremonyLogin        = "login"
	ceremonyDiscoverable = "discoverable"
)

// WebAuthnAvailability reports whether WebAuthn can work with baseURL: only
// when its host is a domain name (localhost counts), never an IP address,
// which browsers refuse as an RP ID. When it cannot, the *InvalidError says
// why (ReasonWebAuthnIPHost with Host, or ReasonWebAuthnNoHost).
func WebAuthnAvailability(baseURL string) error {
	u, err := url.Parse(baseURL)
	if err != nil || u.Hostname() == "" {
		return invalid("base_url", ReasonWebAuthnNoHost)
	}
	if _, err := netip.ParseAddr(u.Hostname()); err == nil {
		return invalid("base_url", ReasonWebAuthnIPHost, "Host", u.Hostname())
	}
	return nil
}

// WebAuthnOffered reports whether this server offers passkeys and security
// keys; when it does not, the *InvalidError says why (see
// WebAuthnAvailability; ReasonWebAuthnOff when the operator left it out).
func (s *Service) WebAuthnOffered() (bool, error) {
	if s.offered(MethodWebAuthn) {
		return true, nil
	}
	if err := WebAuthnAvailability(s.baseURL); err != nil {
		return false, err
	}
	return false, invalid("method", ReasonWebAuthnOff)
}

// AdminMustUsePasskey reports whether account a of organisation o may prove
// its second step only with a passkey or security key: an owner or admin
// under admins_phishing_resistant.
func AdminMustUsePasskey(o *Org, a *Account) bool {
	return o.Policy.AdminsPhishingResistant && (a.Role == RoleOwner || a.Role == RoleAdmin)
}

// passkeyAMR is what a proven assertion adds to amr (RFC 8176): hwk (a
// hardware-bound key) and user (presence, which WebAuthn always tests), and
// mfa when the key verified its holder (PIN or biometrics).
func passkeyAMR(uv bool) []string {
	if uv {
		return []string{"hwk", "user", "mfa"}
	}
	return []string{"hwk", "user"}
}

// passkeyUser is account a as WebAuthn sees it, with the credentials of factors (only
// active webauthn ones count).
func passkeyUser(a *Account, factors []*Factor) *PasskeyUser {
	u := &PasskeyUser{Handle: []byte(a.ID), Name: a.Email, DisplayName: a.Email}
	for _, f := range factors {
		if f.Method == MethodWebAuthn && f.Status == FactorActive && f.Credential != nil {
			u.Credentials = append(u.Credentials, f.Credential)
		}
	}
	return u
}

// newCeremony records a ceremony on ch (replacing any earlier one) for
// WebAuthnTTL.
func (s *Service) newCeremony(ch *Challenge, kind, factorID string, session []byte) error {
	b, err := json.Marshal(ceremony{Kind: kind, FactorID: factorID, Session: session, ExpiresAt: s.now().Add(WebAuthnTTL)})
	ch.WebAuthn = b
	return err
}

// takeCeremony takes the live ceremony of challenge id (single use: it is
// gone whatever the answer, WA-01); nil when there is none, it is of another
// kind, or it expired.
func (s *Service) takeCeremony(ctx context.Context, tx Store, id, kind string) (*ceremony, error) {
	b, err := tx.TakeWebAuthn(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && len(b) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c ceremony
	if err := json.Unmarshal(b, &c); err != nil || c.Kind != kind || !s.now().Before(c.ExpiresAt) {
		return nil, nil
	}
	return &c, nil
}

// checkCredentialJSON refuses, before anything is counted, what cannot be a
// credential at all.
func checkCredentialJSON(b []byte) error {
	if len(b) == 0 || string(b) == "null" {
		return invalid("credential", ReasonRequired)
	}
	if len(b) > maxCredentialJSON {
		return invalid("credential", ReasonCredentialFormat)
	}
	var v struct {
		ID       string          `json:"id"`
		Type     string          `json:"type"`
		Response json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.ID == "" || len(v.Response) == 0 {
		return invalid("credential", ReasonCredentialFormat)
	}
	return nil
}

// beginAssertion starts a second-step ceremony on ch for the keys of a among
// factors that next offers, and returns its request options; nil when next
// offers no key.
func (s *Service) beginAssertion(a *Account, factors []*Factor, next Next, ch *Challenge) (json.RawMessage, error) {
	if s.passkeys == nil || !next.Offers(MethodWebAuthn, "") {
		return nil, nil
	}
	var keys []*Factor
	for _, f := range factors {
		if next.Offers(MethodWebAuthn, f.ID) {
			keys = append(keys, f)
		}
	}
	opts, session, err := s.passkeys.BeginLogin(passkeyUser(a, keys))
	if err != nil {
		return nil, err
	}
	return opts, s.newCeremony(ch, ceremonyLogin, "", session)
}

// WebAuthnSignInOptions starts a new ceremony for the second step of the
// sign-in that token opens, replacing any earlier one, and returns its
// PublicKeyCredentialRequestOptions (for a page about to ask for the key).
// ErrExpired as VerifySignIn; an *InvalidError when the sign-in offers no key.
func (s *Service) WebAuthnSignInOptions(ctx context.Context, token string) (json.RawMessage, error) {
	cs, err := s.SendSignInCode(ctx, SendRequest{SignInToken: token, Method: MethodWebAuthn})
	if err != nil {
		return nil, err
	}
	return cs.Options, nil
}

// sendWebAuthn is SendSignInCode and ConfirmIdentitySend for MethodWebAuthn:
// a new ceremony on the challenge that challenge returns, whose options come
// back in CodeSent.Options.
func (s *Service) sendWebAuthn(ctx context.Context, st SignInState, challenge func(context.Context, Store) (*Challenge, error)) (*CodeSent, error) {
	next := Decide(st)
	if err := offered(st, next, MethodWebAuthn, ""); err != nil {
		return nil, err
	}
	var cs *CodeSent
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		ch, err := challenge(ctx, tx)
		if err != nil {
			return err
		}
		opts, err := s.beginAssertion(st.Account, st.Factors, next, ch)
		if err != nil {
			return err
		}
		cs = &CodeSent{Method: MethodWebAuthn, ExpiresIn: WebAuthnTTL, Options: opts}
		return tx.UpdateChallenge(ctx, ch)
	})
	return cs, err
}

// matchAssertion checks a second-step assertion against the ceremony of ch
// (taken, so that it serves once) and the account's keys among factors. It
// returns the amr it proves, nil when refused; a sign count gone back is
// refused, flagged on the key, logged and audited (WA-04).
func (s *Service) matchAssertion(ctx context.Context, tx Store, a *Account, factors []*Factor, response string, factorID string, ch *Challenge, c *Caller) ([]string, error) {
	if ch == nil || s.passkeys == nil {
		return nil, nil
	}
	cer, err := s.takeCeremony(ctx, tx, ch.ID, ceremonyLogin)
	if err != nil || cer == nil {
		return nil, err
	}
	var keys []*Factor
	for _, f := range factors {
		if f.Method == MethodWebAuthn && (factorID == "" || f.ID == factorID) {
			keys = append(keys, f)
		}
	}
	as, err := s.passkeys.FinishLogin(passkeyUser(a, keys), cer.Session, json.RawMessage(response))
	if err != nil {
		if !errors.Is(err, ErrCredentialRefused) && !isInvalid(err) {
			return nil, err
		}
		s.log.Info("webauthn assertion refused", "account_id", a.ID, "err", err.Error())
		return nil, nil
	}
	i := slices.IndexFunc(keys, func(f *Factor) bool { return string(f.Credential.ID) == string(as.Credential.ID) })
	if i < 0 {
		return nil, nil
	}
	return s.usedKey(ctx, tx, a, keys[i], as, c)
}

// usedKey records what an assertion of f said (its sign count, flags, last
// use) and returns the amr it proves; nil when its sign count went back.
func (s *Service) usedKey(ctx context.Context, tx Store, a *Account, f *Factor, as *Assertion, c *Caller) ([]string, error) {
	stored := f.Credential.SignCount
	f.Credential = as.Credential
	if as.SignCountRegressed {
		f.Credential.CloneWarning = true
		f.Credential.SignCount = stored
		s.log.Warn("webauthn sign count went back", "account_id", a.ID, "factor_id", f.ID,
			"stored", stored, "presented", as.SignCount)
		if err := tx.UpdateFactor(ctx, f); err != nil {
			return nil, err
		}
		return nil, s.audit(ctx, tx, event{detail: &WebAuthnSignCountRegressed{FactorID: f.ID, Stored: stored, Presented: as.SignCount},
			account: a, caller: c})
	}
	f.LastUsedAt = s.now()
	if err := tx.UpdateFactor(ctx, f); err != nil {
		return nil, err
	}
	return passkeyAMR(as.UserVerified), nil
}

func isInvalid(err error) bool {
	var ie *InvalidError
	return errors.As(err, &ie)
}

// WebAuthnFactorOptions starts a new registration ceremony for the caller's
// pending webauthn factor id and returns its
// PublicKeyCredentialCreationOptions (AddFactor returns the first ones).
// ErrNotFound for another's factor or one that is not a pending webauthn one.
func (s *Service) WebAuthnFactorOptions(ctx context.Context, c *Caller, id string) (json.RawMessage, error) {
	f, err := s.ownFactor(ctx, s.store, c, id)
	if err != nil {
		return nil, err
	}
	if f.Method != MethodWebAuthn || f.Status != FactorPending {
		return nil, ErrNotFound
	}
	if err := s.mayEnrol(c); err != nil {
		return nil, err
	}
	var opts json.RawMessage
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		var err error
		opts, err = s.beginRegistration(ctx, tx, c, f)
		return err
	})
	return opts, err
}

// beginRegistration starts the registration ceremony of the pending factor f
// on its enrolment challenge and returns the creation options; the account's
// keys are excluded.
func (s *Service) beginRegistration(ctx context.Context, tx Store, c *Caller, f *Factor) (json.RawMessage, error) {
	all, err := tx.Factors(ctx, c.Account.ID)
	if err != nil {
		return nil, err
	}
	opts, session, err := s.passkeys.BeginRegistration(passkeyUser(c.Account, all))
	if err != nil {
		return nil, err
	}
	ch, err := s.enrolChallenge(ctx, tx, c, f)
	if err != nil {
		return nil, err
	}
	if err := s.newCeremony(ch, ceremonyRegister, f.ID, session); err != nil {
		return nil, err
	}
	return opts, tx.UpdateChallenge(ctx, ch)
}

// matchRegistration checks the answer to the registration ceremony of the
// pending factor f and stores its credential on f. The refusal is an
// *InvalidError: ReasonCredentialExpired when no ceremony is live (taken,
// expired: ask for new options), ReasonCredentialRefused for an answer that
// fails a check, ReasonCredentialTaken for a key already registered (WA-05).
func (s *Service) matchRegistration(ctx context.Context, tx Store, f *Factor, response string) (error, error) {
	if s.passkeys == nil {
		return invalid("credential", ReasonCredentialExpired), nil
	}
	a, err := tx.Account(ctx, f.AccountID)
	if err != nil {
		return nil, err
	}
	ch, err := tx.LatestChallenge(ctx, f.AccountID, PurposeEnrol)
	if errors.Is(err, ErrNotFound) || err == nil && ch.FactorID != f.ID {
		return invalid("credential", ReasonCredentialExpired), nil
	}
	if err != nil {
		return nil, err
	}
	cer, err := s.takeCeremony(ctx, tx, ch.ID, ceremonyRegister)
	if err != nil {
		return nil, err
	}
	if cer == nil || cer.FactorID != f.ID {
		return invalid("credential", ReasonCredentialExpired), nil
	}
	all, err := tx.Factors(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	cred, err := s.passkeys.FinishRegistration(passkeyUser(a, all), cer.Session, json.RawMessage(response))
	if err != nil {
		if !errors.Is(err, ErrCredentialRefused) && !isInvalid(err) {
			return nil, err
		}
		s.log.Info("webauthn registration refused", "account_id", a.ID, "err", err.Error())
		return invalid("credential", ReasonCredentialRefused), nil
	}
	if _, err := tx.FactorByCredentialID(ctx, cred.ID); err == nil {
		// WA-05: one credential, one account (and one factor).
		return invalid("credential", ReasonCredentialTaken), nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if _, err := tx.ConsumeChallenge(ctx, ch.ID, s.now()); err != nil {
		return nil, err
	}
	f.Credential = cred
	return nil, nil
}

// OfferWebAuthn brings organisations up to date once this server offers
// passkeys (API.md §11): an organisation whose allowed methods were every
// method the server offered gets webauthn too, once; an owner who takes it
// out later keeps it out. Each change is audited as a policy change by no
// one. It does nothing while webauthn is not offered.
func (s *Service) OfferWebAuthn(ctx context.Context) error {
	if !s.offered(MethodWebAuthn) {
		return nil
	}
	ids, err := s.store.OrgIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
			o, err := tx.Org(ctx, id)
			if err != nil || o.Policy.WebAuthnOffered {
				return err
			}
			before := o.Policy
			o.Policy.WebAuthnOffered = true
			every := true
			for _, m := range s.methods {
				if m != MethodWebAuthn && !slices.Contains(o.Policy.AllowedMethods, m) {
					every = false
				}
			}
			if every && !slices.Contains(o.Policy.AllowedMethods, MethodWebAuthn) {
				o.Policy.AllowedMethods = append(slices.Clone(o.Policy.AllowedMethods), MethodWebAuthn)
			}
			if err := tx.UpdateOrg(ctx, o); err != nil {
				return err
			}
			if !every {
				return nil
			}
			return s.audit(ctx, tx, event{detail: &PolicyChanged{Before: policyDetail(before), After: policyDetail(o.Policy)}, orgID: o.ID})
		})
		if err != nil {
			return err
		}
	}
	return nil
}
