// Package passkey runs WebAuthn ceremonies with go-webauthn for the domain's twostep.Authenticators port.
package passkey

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/twostep/twostep/internal/twostep"
)

// Options say who the relying party is.
type Options struct {
	// BaseURL is TWOSTEP_BASE_URL: its host is the RP ID, its scheme, host
	// and port the one origin accepted.
	BaseURL string
	// DisplayName is the name the browser shows ("Twostep").
	DisplayName string
}

// RP is a relying party: it implements twostep.Authenticators.
type RP struct {
	w *webauthn.WebAuthn
}

var _ twostep.Authenticators = (*RP)(nil)

// New returns the relying party of o.BaseURL; an error when its host is not a
// domain name (twostep.WebAuthnAvailability) or go-webauthn refuses the
// configuration.
func New(o Options) (*RP, error) {
	if err := twostep.WebAuthnAvailability(o.BaseURL); err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	u, err := url.Parse(o.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("passkey: base URL: %w", err)
	}
	name := o.DisplayName
	if name == "" {
		name = "Twostep"
	}
	timeout := webauthn.TimeoutConfig{Timeout: twostep.WebAuthnTTL, TimeoutUVD: twostep.WebAuthnTTL}
	w, err := webauthn.New(&webauthn.Config{
		RPID:                  u.Hostname(),
		RPDisplayName:         name,
		RPOrigins:             []string{u.Scheme + "://" + u.Host},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		},
		// The domain keeps each ceremony's expiry with its own clock (WA-01).
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &RP{w: w}, nil
}

// user is a twostep.PasskeyUser as go-webauthn wants it.
type user struct {
	u     *twostep.PasskeyUser
	creds []webauthn.Credential
}

func newUser(u *twostep.PasskeyUser) (*user, error) {
	out := &user{u: u}
	for _, c := range u.Credentials {
		wc, err := record(c)
		if err != nil {
			return nil, err
		}
		out.creds = append(out.creds, wc)
	}
	return out, nil
}

func (u *user) WebAuthnID() []byte                         { return u.u.Handle }
func (u *user) WebAuthnName() string                       { return u.u.Name }
func (u *user) WebAuthnDisplayName() string                { return u.u.DisplayName }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// record returns go-webauthn's credential record of c: the one it gave at
// registration, with what the domain keeps moving (sign count, flags).
func record(c *twostep.Credential) (webauthn.Credential, error) {
	var wc webauthn.Credential
	if len(c.Record) > 0 {
		if err := json.Unmarshal(c.Record, &wc); err != nil {
			return wc, fmt.Errorf("passkey: credential record: %w", err)
		}
	}
	wc.ID, wc.PublicKey = c.ID, c.PublicKey
	wc.Authenticator.SignCount, wc.Authenticator.AAGUID = c.SignCount, c.AAGUID
	wc.Flags.BackupEligible, wc.Flags.BackupState, wc.Flags.UserVerified = c.BackupEligible, c.BackupState, c.UserVerified
	return wc, nil
}

// credential is the domain's view of go-webauthn's record wc.
func credential(wc *webauthn.Credential) (*twostep.Credential, error) {
	rec, err := json.Marshal(wc)
	if err != nil {
		return nil, err
	}
	c := &twostep.Credential{ID: wc.ID, PublicKey: wc.PublicKey, SignCount: wc.Authenticator.SignCount,
		AAGUID: wc.Authenticator.AAGUID, BackupEligible: wc.Flags.BackupEligible, BackupState: wc.Flags.BackupState,
		UserVerified: wc.Flags.UserVerified, CloneWarning: wc.Authenticator.CloneWarning, Record: rec}
	for _, t := range wc.Transport {
		c.Transports = append(c.Transports, string(t))
	}
	return c, nil
}

func descriptors(u *user) []protocol.CredentialDescriptor {
	var out []protocol.CredentialDescriptor
	for _, c := range u.creds {
		out = append(out, c.Descriptor())
	}
	return out
}

// BeginRegistration implements twostep.Authenticators.
func (rp *RP) BeginRegistration(pu *twostep.PasskeyUser) (json.RawMessage, []byte, error) {
	u, err := newUser(pu)
	if err != nil {
		return nil, nil, err
	}
	creation, session, err := rp.w.BeginRegistration(u, webauthn.WithExclusions(descriptors(u)))
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: begin registration: %w", err)
	}
	return marshal(creation, session)
}

// FinishRegistration implements twostep.Authenticators.
func (rp *RP) FinishRegistration(pu *twostep.PasskeyUser, session []byte, response json.RawMessage) (*twostep.Credential, error) {
	u, err := newUser(pu)
	if err != nil {
		return nil, err
	}
	sd, err := sessionData(session)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, refused(err)
	}
	wc, err := rp.w.CreateCredential(u, sd, parsed)
	if err != nil {
		return nil, refused(err)
	}
	return credential(wc)
}

// BeginLogin implements twostep.Authenticators.
func (rp *RP) BeginLogin(pu *twostep.PasskeyUser) (json.RawMessage, []byte, error) {
	u, err := newUser(pu)
	if err != nil {
		return nil, nil, err
	}
	assertion, session, err := rp.w.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: begin login: %w", err)
	}
	return marshal(assertion, session)
}

// BeginDiscoverableLogin implements twostep.Authenticators.
func (rp *RP) BeginDiscoverableLogin() (json.RawMessage, []byte, error) {
	// UV preferred, not required: a key that cannot verify its holder gets
	// the domain's precise refusal (WA-03) rather than a browser's error.
	assertion, session, err := rp.w.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, nil, fmt.Errorf("passkey: begin discoverable login: %w", err)
	}
	return marshal(assertion, session)
}

// FinishLogin implements twostep.Authenticators.
func (rp *RP) FinishLogin(pu *twostep.PasskeyUser, session []byte, response json.RawMessage) (*twostep.Assertion, error) {
	u, err := newUser(pu)
	if err != nil {
		return nil, err
	}
	sd, err := sessionData(session)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, refused(err)
	}
	wc, err := rp.w.ValidateLogin(u, sd, parsed)
	if err != nil {
		return nil, refused(err)
	}
	return assertion(u, wc, parsed)
}

// FinishDiscoverableLogin implements twostep.Authenticators.
func (rp *RP) FinishDiscoverableLogin(session []byte, response json.RawMessage,
	find func(credentialID, userHandle []byte) (*twostep.PasskeyUser, error)) (*twostep.PasskeyUser, *twostep.Assertion, error) {
	sd, err := sessionData(session)
	if err != nil {
		return nil, nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, nil, refused(err)
	}
	var found *twostep.PasskeyUser
	var u *user
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		pu, err := find(rawID, userHandle)
		if err != nil {
			return nil, err
		}
		if u, err = newUser(pu); err != nil {
			return nil, err
		}
		found = pu
		return u, nil
	}
	_, wc, err := rp.w.ValidatePasskeyLogin(handler, sd, parsed)
	if err != nil {
		return nil, nil, refused(err)
	}
	a, err := assertion(u, wc, parsed)
	return found, a, err
}

// assertion is the domain's view of a verified assertion: the credential as
// go-webauthn moved it, and whether its counter went back (WA-04), which
// go-webauthn only flags.
func assertion(u *user, wc *webauthn.Credential, parsed *protocol.ParsedCredentialAssertionData) (*twostep.Assertion, error) {
	var stored uint32
	for _, c := range u.creds {
		if bytes.Equal(c.ID, wc.ID) {
			stored = c.Authenticator.SignCount
		}
	}
	data := parsed.Response.AuthenticatorData
	c, err := credential(wc)
	if err != nil {
		return nil, err
	}
	return &twostep.Assertion{Credential: c, UserVerified: data.Flags.HasUserVerified(), SignCount: data.Counter,
		SignCountRegressed: data.Counter <= stored && (data.Counter != 0 || stored != 0)}, nil
}

func marshal(options any, session *webauthn.SessionData) (json.RawMessage, []byte, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return nil, nil, err
	}
	s, err := json.Marshal(session)
	return o, s, err
}

func sessionData(b []byte) (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	if err := json.Unmarshal(b, &sd); err != nil {
		return sd, fmt.Errorf("passkey: session: %w", err)
	}
	// The domain decides expiry with its clock; go-webauthn's would use the wall's.
	sd.Expires = time.Time{}
	return sd, nil
}

// refused wraps a ceremony failure as twostep.ErrCredentialRefused, keeping
// go-webauthn's reason for the log (never a key or a challenge).
func refused(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return fmt.Errorf("%w: %s: %s", twostep.ErrCredentialRefused, pe.Type, pe.Details)
	}
	return fmt.Errorf("%w: %v", twostep.ErrCredentialRefused, err)
}
