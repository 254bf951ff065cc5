package twostep

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Code rules for e-mail, SMS and voice (OOB-01, OOB-02, OOB-06): 6 digits from
// the random source, valid 10 minutes, one live code per challenge, a new send
// on the same channel no sooner than 30 s after the last.
const (
	CodeTTL        = 10 * time.Minute
	ResendCooldown = 30 * time.Second
	// noticeTTL is how long a notice is retried before it is given up.
	noticeTTL = 24 * time.Hour
)

// enqueue seals m's data (it may hold a code or a link) bound to the new row and
// stores the message in tx, so it is sent if and only if tx commits.
func (s *Service) enqueue(ctx context.Context, tx Store, m Message, challengeID string, expires time.Time) error {
	now := s.now()
	payload, err := json.Marshal(m.Data)
	if err != nil {
		return err
	}
	om := &OutboxMessage{ID: s.newID("msg"), Channel: m.Channel, To: m.To, Locale: m.Locale, Template: m.Template,
		ChallengeID: challengeID, Status: MessagePending, NextAttemptAt: now, ExpiresAt: expires, CreatedAt: now}
	if om.Payload, err = s.sealer.Seal(payload, []byte(om.ID)); err != nil {
		return err
	}
	return tx.EnqueueMessage(ctx, om)
}

// notice enqueues a security notice to the account's address (NT-01) in tx.
func (s *Service) notice(ctx context.Context, tx Store, a *Account, template string, data map[string]string) error {
	return s.noticeTo(ctx, tx, a, a.Email, template, data)
}

func (s *Service) noticeTo(ctx context.Context, tx Store, a *Account, to, template string, data map[string]string) error {
	if data == nil {
		data = map[string]string{}
	}
	data["email"] = to
	data["issuer"] = s.issuer
	if s.baseURL != "" {
		// Where to look, or to act if it was not them.
		data["security_url"] = strings.TrimSuffix(s.baseURL, "/") + "/account/security"
	}
	return s.enqueue(ctx, tx, Message{Channel: "email", To: to, Locale: a.Locale, Template: template, Data: data}, "", s.now().Add(noticeTTL))
}

// wake tells the delivery worker that messages may be waiting; call it once the
// transaction that wrote them has committed.
func (s *Service) wake() {
	if s.wakeFn != nil {
		s.wakeFn()
	}
}

// newDigits returns a code of n digits (1 ≤ n ≤ 10); the bias of a 64-bit
// draw modulo 10¹⁰ is below 10⁻⁹.
func (s *Service) newDigits(n int) string {
	b := make([]byte, 8)
	s.mustRead(b)
	mod := uint64(1)
	for range n {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", n, binary.BigEndian.Uint64(b)%mod)
}

// codeHash is "KEYID:" and the keyed hash of a code, bound to its challenge
// (OOB-05): a database alone does not reveal codes, even by trying all 10⁶.
func (s *Service) codeHash(keyID, challengeID, code string) ([]byte, error) {
	h, err := s.sealer.mac(keyID, "code", []byte(challengeID), []byte{0}, []byte(code))
	if err != nil {
		return nil, err
	}
	return append([]byte(keyID+":"), h...), nil
}

// codeTemplates names the message that carries a code for each purpose.
var codeTemplates = map[Purpose]string{
	PurposeSignIn:          "code_sign_in",
	PurposeEnrol:           "code_enrol",
	PurposeConfirmIdentity: "code_confirm_identity",
	PurposeEmailChange:     "code_email_change",
}

// CodeSent says where a code went and when the next may be asked for.
type CodeSent struct {
	Method      Method
	FactorID    string
	To          string // masked
	ExpiresIn   time.Duration
	ResendAfter time.Duration
	// Options are, for MethodWebAuthn, the PublicKeyCredentialRequestOptions
	// of the ceremony just started (nothing is sent: the key is at hand).
	Options json.RawMessage
}

// accountCap is the cap of code messages per account and channel ("at most 10
// code e-mails an hour per account"; notices do not count).
var accountCap = Cap{Max: 10, Window: time.Hour}

// PhoneLimits are the toll-fraud guards on SMS and calls (OOB-10), kept in the
// store so that they hold across instances.
type PhoneLimits struct {
	PerNumber  Cap // default 5 an hour
	PerIP      Cap // default 20 an hour per client address
	PerCountry Cap // per country calling code; default 200 a day
	Daily      int // SMS + calls a day for the whole server; default 1000
}

// DefaultPhoneLimits are the guards when Options leave them out.
var DefaultPhoneLimits = PhoneLimits{
	PerNumber:  Cap{Max: 5, Window: time.Hour},
	PerIP:      Cap{Max: 20, Window: time.Hour},
	PerCountry: Cap{Max: 200, Window: 24 * time.Hour},
	Daily:      1000,
}

// sendCap is one quota a send takes: its name (for the audit trail and
// metrics), its throttle key and its rule.
type sendCap = struct {
	name, key string
	cap       Cap
}

// capError is a send refused by a cap: which one, for the audit trail.
type capError struct {
	*ThrottledError
	cap     string
	channel string
}

func (e *capError) Unwrap() error { return e.ThrottledError }

// caps lists the quotas one send by channel to address takes, by name and key,
// for a challenge of purpose p. The per-number quota is the account's own for
// that number (OOB-10): another account that types the same number, as a
// pending phone of its own, spends its own quota and never the sign-in codes
// of the account that proved it; and enrolment sends, to a number not proven
// yet, have a quota apart from the sign-in and confirmation codes of a proven one.
func (s *Service) caps(a *Account, p Purpose, channel, address string, c *Caller) []sendCap {
	type capKey = sendCap
	out := []capKey{{"account", "send:" + channel + ":" + a.ID, accountCap}}
	if channel != string(MethodSMS) && channel != string(MethodVoice) {
		return out
	}
	use := "code"
	if p == PurposeEnrol {
		use = "enrol"
	}
	out = append(out, capKey{"number", "send:number:" + use + ":" + a.ID + ":" + address, s.phoneLimits.PerNumber})
	if c != nil && c.IP != "" {
		out = append(out, capKey{"ip", "send:ip:" + c.IP, s.phoneLimits.PerIP})
	}
	if cc := callingCode(address); cc != "" {
		out = append(out, capKey{"country", "send:country:" + cc, s.phoneLimits.PerCountry})
	}
	return append(out, capKey{"global", "send:phone:all", Cap{Max: s.phoneLimits.Daily, Window: 24 * time.Hour}})
}

// sendCode makes a new code for challenge c, to address by method m (the
// factor f, if any), replacing any earlier code (OOB-06), and enqueues it in
// tx. It returns ErrResendTooSoon inside the cooldown of that channel and a
// *ThrottledError when the account's hourly cap is reached.
func (s *Service) sendCode(ctx context.Context, tx Store, a *Account, c *Challenge, m Method, factorID, address string, caller *Caller) (*CodeSent, error) {
	return s.sendCodeOr(ctx, tx, a, c, m, factorID, address, caller, nil)
}

// sendCodeOr is sendCode, except that with instead set it makes no code: the
// challenge changes as for a send (cooldown, caps, the earlier code replaced)
// but holds a code nobody has, and instead is queued in place of the code
// message. The caller sees the same answer either way.
func (s *Service) sendCodeOr(ctx context.Context, tx Store, a *Account, c *Challenge, m Method, factorID, address string, caller *Caller, instead *Message) (*CodeSent, error) {
	return s.issueCode(ctx, tx, codeSend{challenge: c, method: m, factorID: factorID, address: address, locale: a.Locale,
		caps: s.caps(a, c.Purpose, string(m), address, caller), template: codeTemplates[c.Purpose], digits: 6}, instead)
}

// codeSend is one code to make and send: for which challenge, by which method
// to which address, under which quotas, worded by which template, of how many
// digits (6 for sign-in; a Verify service's code length), with data the
// template needs besides the code.
type codeSend struct {
	challenge *Challenge
	method    Method
	factorID  string
	address   string
	locale    string
	caps      []sendCap
	template  string
	digits    int
	data      map[string]string
}

// issueCode is the one code engine of sign-in, enrolment, confirmation and
// Verify (API-02): the per-channel resend cooldown, every quota checked
// before any is taken, a new code replacing the challenge's earlier one
// (OOB-06), only its keyed hash kept, and its message queued in tx.
func (s *Service) issueCode(ctx context.Context, tx Store, cs codeSend, instead *Message) (*CodeSent, error) {
	c, m, factorID, address := cs.challenge, cs.method, cs.factorID, cs.address
	now := s.now()
	channel := string(m)
	if c.LastChannel == channel && now.Before(c.LastSentAt.Add(ResendCooldown)) {
		return nil, throttled(ErrResendTooSoon, c.LastSentAt.Add(ResendCooldown).Sub(now))
	}
	// Every quota must have room before any is taken: a refused send costs nothing.
	caps := cs.caps
	taken := make([]Throttle, len(caps))
	for i, q := range caps {
		t, err := tx.LockThrottle(ctx, q.key)
		if err != nil {
			return nil, err
		}
		after, wait, ok := q.cap.Take(t, now)
		if !ok {
			return nil, &capError{ThrottledError: throttled(ErrThrottled, wait).(*ThrottledError), cap: q.name, channel: channel}
		}
		taken[i] = after
	}
	for _, t := range taken {
		if err := tx.PutThrottle(ctx, t); err != nil {
			return nil, err
		}
	}
	code := s.newDigits(cs.digits)
	var err error
	if c.CodeHash, err = s.codeHash(s.sealer.ActiveKeyID(), c.ID, code); err != nil {
		return nil, err
	}
	if instead != nil {
		c.CodeHash = nil // matches no code
	}
	c.Method, c.FactorID, c.Address = m, factorID, address
	c.CodeExpiresAt = minTime(now.Add(CodeTTL), c.ExpiresAt)
	c.Sends++
	c.LastSentAt, c.LastChannel = now, channel
	if err := tx.UpdateChallenge(ctx, c); err != nil {
		return nil, err
	}
	data := map[string]string{"code": code, "minutes": itoa(int(CodeTTL.Minutes())), "issuer": s.issuer, "host": s.host}
	if m == MethodEmail {
		data["email"] = address
	}
	for k, v := range cs.data {
		data[k] = v
	}
	msg := Message{Channel: channel, To: address, Locale: cs.locale, Template: cs.template, Data: data}
	expires := c.CodeExpiresAt
	if instead != nil {
		msg, expires = *instead, now.Add(noticeTTL)
	}
	if err := s.enqueue(ctx, tx, msg, c.ID, expires); err != nil {
		return nil, err
	}
	return &CodeSent{Method: m, FactorID: factorID, To: MaskAddress(m, address), ExpiresIn: c.CodeExpiresAt.Sub(now), ResendAfter: ResendCooldown}, nil
}

// matchCode reports whether code is the live code of c for method m (and
// factor, when given), in constant time. A phone code counts for either channel
// of its number: the newest code, by SMS or by call, replaces the earlier one.
func (s *Service) matchCode(c *Challenge, m Method, factorID, code string) bool {
	sameMethod := c != nil && (c.Method == m || isPhone(c.Method) && isPhone(m))
	if !sameMethod || len(c.CodeHash) == 0 || (factorID != "" && factorID != c.FactorID) || !s.now().Before(c.CodeExpiresAt) {
		return false
	}
	keyID, _, _ := bytes.Cut(c.CodeHash, []byte(":"))
	h, err := s.codeHash(string(keyID), c.ID, code)
	return err == nil && hmac.Equal(h, c.CodeHash)
}

func isPhone(m Method) bool { return m == MethodSMS || m == MethodVoice }

// recordCap writes an audit event when err is a send refused by a cap, so that
// the operator sees toll-fraud guards at work (OOB-10). It returns err.
func (s *Service) recordCap(ctx context.Context, err error, a *Account, c *Caller) error {
	var ce *capError
	if !errors.As(err, &ce) || a == nil {
		return err
	}
	s.log.Warn("code not sent: cap reached", "cap", ce.cap, "channel", ce.channel, "account_id", a.ID)
	s.metrics.ThrottleTrip("send_" + ce.cap)
	if aerr := s.audit(ctx, s.store, event{detail: &DeliveryCapped{Cap: ce.cap, Channel: ce.channel}, account: a, caller: c}); aerr != nil {
		s.log.Error("audit", "err", aerr)
	}
	return err
}
