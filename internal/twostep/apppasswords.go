package twostep

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// AppPassword lets one old client — an app version below the minimum, which
// cannot ask for a code — sign in with the e-mail and it instead of the
// password (API.md §11): the safe successor of allow_legacy_clients. It is
// shown once, stored only hashed (SHA-256: 120 random bits need no slow hash)
// and revoked on its own. Its sessions are marked with it, exempt from the
// second step, and reach no security setting nor yield an OpenID Connect token.
type AppPassword struct {
	ID         string
	AccountID  string
	Label      string
	Hash       []byte
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used
	LastIP     string
}

// appPasswordAlphabet has 32 letters and digits that cannot be mistaken for
// one another (no 0, 1, l, o), so 24 of them carry 120 bits.
const appPasswordAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

// AppPasswordLength is how many characters an app password has; it is shown in
// groups of four joined by "-".
const AppPasswordLength = 24

// newAppPassword returns a new app password in groups: "abcd-efgh-…".
func (s *Service) newAppPassword() string {
	b := make([]byte, AppPasswordLength)
	s.mustRead(b)
	var out strings.Builder
	for i, x := range b {
		if i > 0 && i%4 == 0 {
			out.WriteByte('-')
		}
		out.WriteByte(appPasswordAlphabet[int(x)%len(appPasswordAlphabet)]) // 256 = 8×32: no bias
	}
	return out.String()
}

// normalizeAppPassword returns the app password p as stored (lower case,
// without the dashes and spaces people type), or "" when p cannot be one.
func normalizeAppPassword(p string) string {
	var out strings.Builder
	for _, r := range strings.ToLower(p) {
		switch {
		case r == '-' || r == ' ':
		case r < utf8.RuneSelf && strings.IndexByte(appPasswordAlphabet, byte(r)) >= 0:
			out.WriteRune(r)
		default:
			return ""
		}
	}
	if out.Len() != AppPasswordLength {
		return ""
	}
	return out.String()
}

// notAppPassword returns ErrForbidden for a session an app password made: it
// reaches no security setting (API.md §11).
func notAppPassword(c *Caller) error {
	if c.Session != nil && c.Session.AppPasswordID != "" {
		return ErrForbidden
	}
	return nil
}

// CreateAppPassword makes an app password labelled label for the caller and
// returns it with the password itself, which is never shown again. It needs
// a recent identity confirmation (ErrConfirmIdentity), two-step on
// (ErrConflict: without it the password alone already signs in), and an
// organisation that allows app passwords (ErrForbidden). A notice goes to
// the account's e-mail.
func (s *Service) CreateAppPassword(ctx context.Context, c *Caller, label string) (*AppPassword, string, error) {
	if err := s.requireConfirmed(c); err != nil {
		return nil, "", err
	}
	label = strings.TrimSpace(label)
	switch {
	case label == "":
		return nil, "", invalid("label", ReasonRequired)
	case utf8.RuneCountInString(label) > 64:
		return nil, "", invalid("label", ReasonTooLong, "Max", "64")
	}
	if err := checkText("label", label); err != nil {
		return nil, "", err
	}
	a := c.Account
	org, err := s.store.Org(ctx, a.OrgID)
	if err != nil {
		return nil, "", err
	}
	if !org.Policy.AllowAppPasswords {
		return nil, "", ErrForbidden
	}
	if !a.TwoStepEnabled() {
		return nil, "", ErrConflict
	}
	password := s.newAppPassword()
	p := &AppPassword{ID: s.newID("apw"), AccountID: a.ID, Label: label, Hash: HashToken(normalizeAppPassword(password)), CreatedAt: s.now()}
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := tx.CreateAppPassword(ctx, p); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, event{detail: &AppPasswordCreated{AppPassword: p.ID, Label: p.Label}, account: a, caller: c}); err != nil {
			return err
		}
		return s.notice(ctx, tx, a, "app_password_created", map[string]string{"label": p.Label})
	})
	if err != nil {
		return nil, "", err
	}
	s.wake()
	return p, password, nil
}

// AppPasswordsOf lists the caller's app passwords, oldest first, with their last use.
func (s *Service) AppPasswordsOf(ctx context.Context, c *Caller) ([]*AppPassword, error) {
	if err := requireOwnSession(c); err != nil {
		return nil, err
	}
	return s.store.AppPasswords(ctx, c.Account.ID)
}

// RevokeAppPassword deletes one of the caller's app passwords and ends the
// sessions made with it, at once. ErrNotFound when the caller has none such.
func (s *Service) RevokeAppPassword(ctx context.Context, c *Caller, id string) error {
	if err := requireOwnSession(c); err != nil {
		return err
	}
	return s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		ok, err := tx.DeleteAppPassword(ctx, c.Account.ID, id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		return s.audit(ctx, tx, event{detail: &AppPasswordRevoked{AppPassword: id}, account: c.Account, caller: c})
	})
}

// errNoAppPassword: the password given is no live app password of the account.
var errNoAppPassword = errors.New("twostep: no such app password")

// signInWithAppPassword is the sign-in of an old client (version below the
// minimum) that gave one of the account's app passwords instead of its
// password, which it is called after finding wrong: a session marked with the
// app password, through Decide. It returns nil, nil when this is no such
// sign-in — a newer client or none declared, an organisation that does not
// allow app passwords, an account without two-step, or no live app password
// that matches — and the caller counts a wrong password.
func (s *Service) signInWithAppPassword(ctx context.Context, r SignInRequest, acct *Account, version ClientVersion, c *Caller) (*SignInResult, error) {
	norm := normalizeAppPassword(r.Password)
	if acct == nil || version == nil || norm == "" || !acct.TwoStepEnabled() {
		return nil, nil
	}
	org, err := s.store.Org(ctx, acct.OrgID)
	if err != nil {
		return nil, err
	}
	if min := s.minClientVersion(org); !org.Policy.AllowAppPasswords || min == nil || !version.Less(min) {
		return nil, nil
	}
	st, err := s.signInState(ctx, s.store, acct, org, []string{"pwd"})
	if err != nil {
		return nil, err
	}
	var res *SignInResult
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		// The use and the session in one transaction: a revocation comes
		// wholly before (no session) or after (the session ends with it).
		p, err := tx.UseAppPassword(ctx, acct.ID, HashToken(norm), s.now(), r.IP)
		if errors.Is(err, ErrNotFound) {
			return errNoAppPassword
		}
		if err != nil {
			return err
		}
		st.AppPassword = p.ID
		next := Decide(st)
		if res, err = s.signedIn(ctx, tx, acct, next, c); err != nil {
			return err
		}
		return s.audit(ctx, tx, event{detail: &SignInSucceeded{AMR: next.AMR, SecondStep: next.SecondStep,
			LegacyClient: r.ClientVersion, AppPassword: p.ID}, account: acct, caller: c})
	})
	if errors.Is(err, errNoAppPassword) {
		return nil, nil
	}
	return res, err
}
