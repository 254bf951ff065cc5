package twostep

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Options are what a Service needs. Store, Sealer and Hasher are required; the
// rest have defaults.
type Options struct {
	Store  Store
	Sealer *Sealer
	Hasher *Hasher
	Clock  func() time.Time
	Rand   io.Reader
	Logger *slog.Logger
	// Wake, if set, is called after a change that queued messages has
	// committed, so that the delivery worker need not wait for its next poll.
	Wake func()
	// BaseURL is where people reach the pages; links in messages start with it
	// (never with a request's Host header: FL-09).
	BaseURL string

	Issuer           string // shown in authenticator apps; default "Twostep"
	MinClientVersion string // server-wide; "" for none
	// Methods this server offers, in the order they are listed; default TOTP only.
	Methods       []Method
	SessionIdle   time.Duration // default 1h
	SessionMax    time.Duration // default 24h
	ConfirmWindow time.Duration // default 10m
	SignInTTL     time.Duration // default 10m
	Limits        Limits        // zero: DefaultLimits
	// SMSCountries are the ISO 3166 regions whose numbers may take SMS and
	// calls; all when empty.
	SMSCountries []string
	PhoneLimits  PhoneLimits // zero: DefaultPhoneLimits (Daily from TWOSTEP_SMS_DAILY_LIMIT)
	Metrics      Metrics     // nil: none
	OIDC         OIDCOptions // the OpenID Connect provider's lifetimes and URL rules
	// CookieDomain (TWOSTEP_COOKIE_DOMAIN) turns forward auth on (API.md §8):
	// sessions get a forward-auth token, and a sign-in may return to a host
	// under it. "" for none.
	CookieDomain string
	Verify       VerifyOptions
	// SSO makes the HTTP calls to organisations' own identity providers
	// (API.md §12); nil: no organisation can set up SSO.
	SSO SSOProvider
	// DescribeAgent reads a User-Agent header for the words of notices and
	// audit details ("Firefox", "Linux"); main gives the web adapter's
	// parser. nil: devices go unnamed.
	DescribeAgent func(userAgent string) Agent
	// Authenticators runs WebAuthn ceremonies; required when Methods holds
	// MethodWebAuthn, which needs a base URL whose host is a name.
	Authenticators Authenticators
}

// Service is Twostep's use cases. It is safe for concurrent use.
type Service struct {
	store  Store
	sealer *Sealer
	wakeFn func()
	hasher *Hasher
	clock  func() time.Time
	rand   io.Reader
	log    *slog.Logger

	baseURL       string
	issuer        string
	minVersion    ClientVersion
	methods       []Method
	sessionIdle   time.Duration
	sessionMax    time.Duration
	confirmWindow time.Duration
	signInTTL     time.Duration
	limits        Limits
	smsCountries  []string
	phoneLimits   PhoneLimits
	host          string // of the base URL, for the WebOTP line of SMS
	metrics       Metrics
	oidc          OIDCOptions
	base          *url.URL // the base URL, parsed
	cookieDomain  string
	verify        VerifyOptions
	sso           SSOProvider
	describeAgent func(string) Agent
	passkeys      Authenticators

	dummyOnce sync.Once
	dummyHash string

	// background counts work still running after its answer (Wait);
	// resetSlots bounds the password-reset requests among it.
	background sync.WaitGroup
	resetSlots chan struct{}
}

// New returns a Service. It fails only on options that cannot work.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Sealer == nil || o.Hasher == nil || o.Rand == nil {
		return nil, errors.New("twostep: Store, Sealer, Hasher and Rand are required")
	}
	s := &Service{
		store: o.Store, wakeFn: o.Wake, baseURL: o.BaseURL, sealer: o.Sealer, hasher: o.Hasher, clock: o.Clock, rand: o.Rand, log: o.Logger,
		issuer: o.Issuer, methods: o.Methods, sessionIdle: o.SessionIdle, sessionMax: o.SessionMax,
		confirmWindow: o.ConfirmWindow, signInTTL: o.SignInTTL, limits: o.Limits, smsCountries: o.SMSCountries,
		phoneLimits: o.PhoneLimits, metrics: o.Metrics, resetSlots: make(chan struct{}, resetsInFlight),
		oidc: o.OIDC.withDefaults(), verify: o.Verify, describeAgent: o.DescribeAgent, passkeys: o.Authenticators, sso: o.SSO,
	}
	if s.metrics == nil {
		s.metrics = noMetrics{}
	}
	if u, err := url.Parse(o.BaseURL); err == nil {
		s.host, s.base = u.Hostname(), u
	}
	s.cookieDomain = strings.ToLower(strings.TrimPrefix(o.CookieDomain, "."))
	if s.phoneLimits == (PhoneLimits{}) {
		s.phoneLimits = DefaultPhoneLimits
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.issuer == "" {
		s.issuer = "Twostep"
	}
	if len(s.methods) == 0 {
		s.methods = []Method{MethodTOTP}
	}
	for _, m := range s.methods {
		if m != MethodTOTP && m != MethodEmail && m != MethodSMS && m != MethodVoice && m != MethodWebAuthn {
			return nil, errors.New("twostep: unknown method " + string(m))
		}
		if m == MethodWebAuthn {
			if err := WebAuthnAvailability(o.BaseURL); err != nil {
				return nil, errors.New("twostep: webauthn needs a base URL whose host is a name: " + err.Error())
			}
			if o.Authenticators == nil {
				return nil, errors.New("twostep: webauthn needs Authenticators")
			}
		}
	}
	if o.MinClientVersion != "" {
		v, err := ParseClientVersion("min_client_version", o.MinClientVersion)
		if err != nil {
			return nil, err
		}
		s.minVersion = v
	}
	s.sessionIdle = orDefault(s.sessionIdle, time.Hour)
	s.sessionMax = orDefault(s.sessionMax, 24*time.Hour)
	s.confirmWindow = orDefault(s.confirmWindow, 10*time.Minute)
	s.signInTTL = orDefault(s.signInTTL, 10*time.Minute)
	if s.limits == (Limits{}) {
		s.limits = DefaultLimits
	}
	if s.limits.Device == (Limit{}) {
		s.limits.Device = s.limits.Email
	}
	if s.limits.PasskeyBegin == (Cap{}) {
		s.limits.PasskeyBegin = DefaultLimits.PasskeyBegin
	}
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Methods returns the second-step methods this server offers.
func (s *Service) Methods() []Method { return slices.Clone(s.methods) }

// Issuer returns the name shown in authenticator apps and messages.
func (s *Service) Issuer() string { return s.issuer }

// Caller is who makes a request: the account and session a session token opened,
// and where the request came from.
type Caller struct {
	Account *Account
	Session *Session
	// SignIn is set instead of Session for the holder of a sign-in token from
	// enrollment_required: it may only set up a method, then complete.
	SignIn    *Challenge
	IP        string
	UserAgent string
	// Locale is the language the caller's browser asks for, one of Locales,
	// "" when unknown: an account that has chosen none takes it (adoptLocale).
	Locale string
	// DeviceToken is the device token the client presented while signing in,
	// "" for none: a sign-in that succeeds renews that device rather than
	// making a new one.
	DeviceToken string
}

func (s *Service) now() time.Time { return s.clock().UTC() }

// idEncoding is base32 with its alphabet in byte order, so that encoded ids
// sort as the bytes they encode.
var idEncoding = base32.NewEncoding("234567abcdefghijklmnopqrstuvwxyz").WithPadding(base32.NoPadding)

// newID returns prefix_ followed by the time in milliseconds (48 bits) and 80
// random bits. Ids made later sort later, so a new row's id goes at the end of
// its index instead of on a random page: one page less to write per insert.
// Ids are not secrets; the time they reveal is the row's creation time.
func (s *Service) newID(prefix string) string {
	var b [16]byte
	ms := uint64(s.now().UnixMilli())
	binary.BigEndian.PutUint64(b[:8], ms<<16)
	s.mustRead(b[6:])
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

// newToken returns a 256-bit random token and its SHA-256 (FL-03).
func (s *Service) newToken() (string, []byte) {
	b := make([]byte, 32)
	s.mustRead(b)
	t := base64.RawURLEncoding.EncodeToString(b)
	return t, HashToken(t)
}

func (s *Service) mustRead(b []byte) {
	if _, err := io.ReadFull(s.rand, b); err != nil {
		// A broken random source must stop everything rather than hand out guessable tokens.
		panic("twostep: random source failed: " + err.Error())
	}
}

// HashToken returns the SHA-256 of a token, the only form in which tokens are stored.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// NormalizeEmail lower-cases and trims an address; "" if it is not a plain address.
func NormalizeEmail(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 254 {
		return ""
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s[strings.LastIndex(s, "@")+1:], ".") {
		return ""
	}
	return s
}

func checkEmail(field, email string) (string, error) {
	if err := checkText(field, strings.TrimSpace(email)); err != nil {
		return "", err
	}
	n := NormalizeEmail(email)
	if n == "" {
		return "", invalid(field, ReasonEmail)
	}
	return n, nil
}

// event is an audit event about to be written: its detail says what happened.
type event struct {
	detail  EventDetail
	orgID   string // when the event is about the organisation, not an account
	account *Account
	actorID string
	caller  *Caller
}

func (s *Service) audit(ctx context.Context, st Store, e event) error {
	detail, err := detailMap(e.detail)
	if err != nil {
		return err
	}
	ev := &AuditEvent{At: s.now(), Type: e.detail.EventType(), ActorID: e.actorID, OrgID: e.orgID, Detail: detail}
	if e.account != nil {
		ev.AccountID, ev.OrgID = e.account.ID, e.account.OrgID
		if ev.ActorID == "" {
			ev.ActorID = e.account.ID
		}
	}
	if e.caller != nil {
		ev.IP, ev.UserAgent = e.caller.IP, truncate(e.caller.UserAgent, 512)
	}
	if ev.Detail == nil {
		ev.Detail = map[string]any{}
	}
	return st.AppendEvent(ctx, ev)
}

// truncate returns s as valid UTF-8 of at most n bytes, cut at a character
// boundary. What a client sends (its User-Agent) is stored as text: PostgreSQL
// refuses invalid UTF-8, and a refused insert would undo the throttle count and
// audit event written in the same transaction.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// requireConfirmed returns ErrConfirmIdentity unless the caller's session has a
// recent identity confirmation (SU-01): a sign-in that proved everything the
// account has, or ConfirmIdentity. A legacy client's session never counts, and
// an enrolment token is ErrForbidden: it only adds a method (mayEnrol). An
// exempt session (an SSO member under "never") counts only once confirmed by
// a new sign-in at its provider (finishSSOConfirm, the one place that gives an
// exempt session a ConfirmedUntil); a legacy client's never does.
func (s *Service) requireConfirmed(c *Caller) error {
	if c.SignIn != nil || notAppPassword(c) != nil {
		return ErrForbidden
	}
	if c.Session == nil || c.Session.Legacy || !s.now().Before(c.Session.ConfirmedUntil) {
		return ErrConfirmIdentity
	}
	if c.Session.SecondStep == SecondStepExempt && (c.Account == nil || !c.Account.SSO) {
		return ErrConfirmIdentity
	}
	return nil
}

// mayEnrol returns nil when the caller may bind a new method (SU-03): a
// confirmed session, or the live token of a sign-in that must enrol, which
// Decide hands out only once the account proved what it has.
func (s *Service) mayEnrol(c *Caller) error {
	if c.SignIn != nil && c.Session == nil {
		if !s.now().Before(c.SignIn.ExpiresAt) {
			return ErrUnauthenticated
		}
		return nil
	}
	return s.requireConfirmed(c)
}

// offered reports whether this server offers m.
func (s *Service) offered(m Method) bool { return slices.Contains(s.methods, m) }

// DefaultPolicy is the policy of a new organisation on this server.
func (s *Service) DefaultPolicy() Policy {
	return Policy{TwoStep: PolicyOptional, AllowedMethods: s.Methods(), AllowLegacyClients: true, AllowAppPasswords: true,
		WebAuthnOffered: s.offered(MethodWebAuthn)}
}

// allowed returns the methods the organisation's policy allows among those offered.
func (s *Service) allowed(o *Org) []Method { return allowedMethods(o, s.methods) }

// atomically runs fn in one transaction, as Store.Atomic does. fn returns a
// refusal (a wrong code) or an error; a refusal still commits, because the
// failure it counted must stay counted (RL-05), and is then returned.
func (s *Service) atomically(ctx context.Context, fn func(ctx context.Context, tx Store) (refusal error, err error)) error {
	var refusal error
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		var err error
		refusal, err = fn(ctx, tx)
		return err
	})
	if err != nil {
		return err
	}
	return refusal
}
