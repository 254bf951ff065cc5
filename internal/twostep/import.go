package twostep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Account import (API.md §9): a product that moves to Twostep brings its
// accounts with their password hashes and second steps, so that people sign in
// unchanged and keep the method they had.

// ImportLine is one account of an import file (JSON Lines). Every field but
// Email may be left out.
type ImportLine struct {
	Email        string `json:"email"`
	PasswordHash string `json:"password_hash"` // a hash hashes.go verifies, kept as it is
	Role         Role   `json:"role"`          // "" is member
	SSO          bool   `json:"sso"`
	Locale       string `json:"locale"`
	TOTPSecret   string `json:"totp_secret"` // base32: an active authenticator app (SHA-1, 6 digits, 30 s)
	Phone        string `json:"phone"`       // E.164: an active phone factor
}

// ImportOptions say where accounts go and how.
type ImportOptions struct {
	Org string // id or slug
	// DryRun checks every line, and whether its account exists, and writes nothing.
	DryRun bool
	// Invite e-mails a set-password link (an invitation, through the outbox) to
	// every imported account without a password hash and not SSO; without it the
	// link is returned for the operator to hand over.
	Invite bool
}

// ImportOutcome is what became of one line.
type ImportOutcome string

// Import outcomes.
const (
	ImportImported ImportOutcome = "imported"
	ImportSkipped  ImportOutcome = "skipped" // an account with the e-mail exists (in any organisation)
	ImportFailed   ImportOutcome = "failed"
)

// ImportResult is what became of one line. In a dry run, Imported means the
// line would be imported; nothing was written.
type ImportResult struct {
	Outcome ImportOutcome
	Account *Account // the account imported (or that would be)
	// Methods are the second-step methods the account was given, in the order
	// of its factors.
	Methods []Method
	// SetPasswordToken is the one-time /set-password/ token of an account that
	// has neither a password hash nor SSO, when the import does not e-mail it.
	SetPasswordToken string
	// Invited is set when an invitation was queued for the account.
	Invited bool
	// Err is why the line failed: an *InvalidError whose Field is the line's
	// field ("" for the line as a whole). It never holds a hash, secret or number.
	Err error
}

// TOTP secret lengths an import accepts, in bytes: 80 bits is what older
// authenticator set-ups used (16 base32 characters), and refusing them would
// take people's app away; 64 bytes is SHA-1's block.
const (
	importTOTPMin = 10
	importTOTPMax = 64
)

// Importer imports accounts into one organisation, one line at a time.
type Importer struct {
	s    *Service
	org  *Org
	opts ImportOptions
}

// NewImport starts an import into o.Org: an *InvalidError (field "org") if
// there is no such organisation.
func (s *Service) NewImport(ctx context.Context, o ImportOptions) (*Importer, error) {
	org, err := s.findOrg(ctx, o.Org)
	if err != nil {
		return nil, err
	}
	return &Importer{s: s, org: org, opts: o}, nil
}

// Org is the organisation accounts are imported into.
func (im *Importer) Org() *Org { return im.org }

// Line imports the account one line describes, whole or not at all (one
// transaction): the account, its factors, the audit event and its
// set-password link. A line that cannot be imported is ImportFailed with the
// reason in the result; the error is for what stops the whole import (the
// database out of reach).
func (im *Importer) Line(ctx context.Context, raw []byte) (ImportResult, error) {
	s := im.s
	var l ImportLine
	if err := decodeImportLine(raw, &l); err != nil {
		return ImportResult{Outcome: ImportFailed, Err: err}, nil
	}
	a, factors, err := s.prepareImport(ctx, im.org, l)
	if err != nil {
		return ImportResult{Outcome: ImportFailed, Err: err}, nil
	}
	res := ImportResult{Outcome: ImportImported, Account: a}
	for _, f := range factors {
		res.Methods = append(res.Methods, f.Method)
	}
	if _, err := s.store.AccountByEmail(ctx, a.Email); err == nil {
		return ImportResult{Outcome: ImportSkipped}, nil
	} else if !errors.Is(err, ErrNotFound) {
		return ImportResult{}, err
	}
	if im.opts.DryRun {
		return res, nil
	}
	needsLink := a.PasswordHash == "" && !a.SSO
	err = s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		if err := tx.CreateAccount(ctx, a); err != nil {
			return err
		}
		for _, f := range factors {
			if err := tx.CreateFactor(ctx, f); err != nil {
				return err
			}
		}
		detail := &AccountImported{Role: a.Role, SSO: a.SSO, Scheme: hashScheme(a.PasswordHash), Methods: res.Methods,
			Invited: needsLink && im.opts.Invite}
		if err := s.audit(ctx, tx, event{detail: detail, account: a, actorID: OperatorActor}); err != nil {
			return err
		}
		if !needsLink {
			return nil
		}
		if !im.opts.Invite {
			var err error
			res.SetPasswordToken, err = s.setPasswordToken(ctx, tx, a)
			return err
		}
		token, _, err := s.newPasswordLink(ctx, tx, a.ID, PurposeInvite, "inv", InviteTTL)
		if err != nil {
			return err
		}
		res.Invited = true
		return s.notice(ctx, tx, a, "invitation", map[string]string{"org": im.org.Name, "inviter": s.issuer,
			"days": strconv.Itoa(int(InviteTTL.Hours() / 24)), "link": s.baseURL + "/invite/" + token})
	})
	if errors.Is(err, ErrConflict) {
		// Imported meanwhile by another run: it exists, as a skip says.
		return ImportResult{Outcome: ImportSkipped}, nil
	}
	if err != nil {
		return ImportResult{}, err
	}
	s.wake()
	return res, nil
}

// decodeImportLine reads one JSON object with only ImportLine's fields.
func decodeImportLine(raw []byte, l *ImportLine) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	err := d.Decode(l)
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		return invalid(typeErr.Field, ReasonImportJSON)
	case err != nil && strings.HasPrefix(err.Error(), "json: unknown field "):
		// The field's name, never its value: a misspelt "pasword_hash" must not
		// print the hash it holds.
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return invalid(truncate(name, 64), ReasonImportField)
	case err != nil:
		return invalid("", ReasonImportJSON)
	}
	if _, err := d.Token(); err != io.EOF {
		return invalid("", ReasonImportJSON) // more than one value on the line
	}
	return nil
}

// prepareImport checks a line and builds its account and active factors,
// writing nothing.
func (s *Service) prepareImport(ctx context.Context, org *Org, l ImportLine) (*Account, []*Factor, error) {
	if l.Role == "" {
		l.Role = RoleMember
	}
	if l.Locale != "" && !slices.Contains(Locales, l.Locale) {
		return nil, nil, invalid("locale", ReasonLocale, "Locales", strings.Join(Locales, ", "))
	}
	if l.SSO && l.PasswordHash != "" {
		return nil, nil, invalid("password_hash", ReasonSSONoPassword)
	}
	if l.SSO && (l.TOTPSecret != "" || l.Phone != "") {
		// An SSO member's second step is its identity provider's.
		return nil, nil, invalid(cmpField(l.TOTPSecret != "", "totp_secret", "phone"), ReasonSSONoMethods)
	}
	a, err := s.prepareAccount(ctx, org, l.Email, l.Role, l.SSO, "")
	if err != nil {
		return nil, nil, err
	}
	a.Locale = l.Locale
	if l.PasswordHash != "" {
		if !IsNativeHash(l.PasswordHash) {
			if _, err := parseForeignHash("password_hash", l.PasswordHash); err != nil {
				return nil, nil, err
			}
		} else if _, err := parseArgon2PHC("password_hash", l.PasswordHash, SchemeArgon2id); err != nil {
			return nil, nil, err // Twostep reads it, but it is over the import's ceilings
		}
		a.PasswordHash = l.PasswordHash
	}
	var factors []*Factor
	now := s.now()
	if l.TOTPSecret != "" {
		secret, err := importTOTPSecret(l.TOTPSecret)
		if err != nil {
			return nil, nil, err
		}
		if !s.offered(MethodTOTP) {
			return nil, nil, invalid("totp_secret", ReasonMethodNotOffered, "Method", string(MethodTOTP), "Methods", joinMethods(s.methods))
		}
		f := &Factor{ID: s.newID("fac"), AccountID: a.ID, Method: MethodTOTP, Status: FactorActive, Label: DefaultTOTPLabel,
			CreatedAt: now, ConfirmedAt: now}
		if f.Secret, err = s.sealer.Seal(secret, []byte(f.ID)); err != nil {
			return nil, nil, err
		}
		factors = append(factors, f)
	}
	if l.Phone != "" {
		if !strings.HasPrefix(strings.TrimSpace(l.Phone), "+") {
			return nil, nil, invalid("phone", ReasonPhoneE164)
		}
		// The number's type decides its channels (a fixed line takes calls
		// only), and a country outside TWOSTEP_SMS_COUNTRIES fails the line.
		p, err := ParsePhone(l.Phone, "", MethodVoice, s.smsCountries)
		if err != nil {
			return nil, nil, err
		}
		i := slices.IndexFunc(p.Channels, s.offered)
		if i < 0 {
			return nil, nil, invalid("phone", ReasonMethodNotOffered, "Method", string(p.Channels[0]), "Methods", joinMethods(s.methods))
		}
		m := p.Channels[i]
		factors = append(factors, &Factor{ID: s.newID("fac"), AccountID: a.ID, Method: m, Status: FactorActive,
			Label: MaskAddress(m, p.E164), Address: p.E164, Channels: p.Channels, CreatedAt: now, ConfirmedAt: now})
	}
	if len(factors) > 0 {
		// People keep the second step they had: two-step is on, with the
		// first method (the app, when there is one) as the default. Recovery
		// codes are not made here: nobody could see them; the security page
		// asks for them (none left) at the next visit.
		factors[0].Default = true
		a.TwoStepSince = now
	}
	return a, factors, nil
}

// hashScheme names the scheme of a stored hash for the audit trail ("" for none).
func hashScheme(encoded string) string {
	if encoded == "" || IsNativeHash(encoded) {
		return cmpField(encoded != "", SchemeArgon2id, "")
	}
	if f, err := parseForeignHash("", encoded); err == nil {
		return f.scheme
	}
	return ""
}

func cmpField(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

// importTOTPSecret decodes a base32 seed as apps and exports write it: any
// case, spaces and padding allowed.
func importTOTPSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.TrimRight(strings.ReplaceAll(strings.ReplaceAll(s, " ", ""), "-", ""), "="))
	b, err := b32.DecodeString(s)
	if err != nil || len(b) < importTOTPMin || len(b) > importTOTPMax {
		return nil, invalid("totp_secret", ReasonTOTPSecret, "Min", strconv.Itoa(importTOTPMin), "Max", strconv.Itoa(importTOTPMax))
	}
	return b, nil
}

// PasswordHashes is the store port the hash upgrade needs beyond Store.
type PasswordHashes interface {
	// ReplacePasswordHash sets the account's password hash to new if it is
	// still old, in one statement, and reports whether it did: a password
	// changed or reset meanwhile wins.
	ReplacePasswordHash(ctx context.Context, accountID, old, new string) (bool, error)
}

// upgradeHash replaces an imported hash of a with Twostep's argon2id of
// password, which has just matched it (API.md §9). A failure only logs: the
// imported hash keeps working until the next sign-in tries again.
func (s *Service) upgradeHash(ctx context.Context, a *Account, password string) {
	hashes, ok := s.store.(PasswordHashes)
	if !ok {
		s.log.Error("the store cannot replace password hashes: imported hashes stay", "account_id", a.ID)
		return
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err == nil {
		var done bool
		if done, err = hashes.ReplacePasswordHash(ctx, a.ID, a.PasswordHash, hash); done {
			a.PasswordHash = hash
		}
	}
	if err != nil {
		s.log.Warn("an imported password hash stays until the next sign-in", "account_id", a.ID, "err", err)
	}
}
