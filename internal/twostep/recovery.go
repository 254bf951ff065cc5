package twostep

import (
	"context"
	"crypto/subtle"
	"encoding/base32"
	"io"
	"strings"
)

// Recovery codes (RC-01, RC-02): 10 codes of 80 bits, written as 16 Base32
// characters in groups of four, stored as HMAC-SHA256 under the server key with a
// 128-bit salt each. The database alone cannot be searched for them, and checking
// an account's ten costs microseconds.
const (
	RecoveryCodeCount = 10
	recoveryCodeBytes = 10
	// RecoveryCodesLow is the number of codes left at or below which people are warned.
	RecoveryCodesLow = 2
)

var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newRecoveryCode(r io.Reader) (string, error) {
	b := make([]byte, recoveryCodeBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	s := recoveryEncoding.EncodeToString(b)
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16], nil
}

// normalizeRecoveryCode lower-cases, drops separators and maps look-alikes so that
// "ABCD EFGH-…" and "abcd-efgh-…" are the same code; "" if it cannot be one.
func normalizeRecoveryCode(code string) string {
	s := strings.ToLower(normalizeCode(code))
	s = strings.NewReplacer("0", "o", "1", "l", "8", "b").Replace(s)
	if len(s) != 16 {
		return ""
	}
	if _, err := recoveryEncoding.DecodeString(s); err != nil {
		return ""
	}
	return s
}

func (s *Service) hashRecoveryCode(keyID string, salt []byte, normalized string) ([]byte, error) {
	return s.sealer.mac(keyID, "recovery code", salt, []byte(normalized))
}

// matchRecoveryCode returns the stored code that code is, or nil.
func (s *Service) matchRecoveryCode(codes []*RecoveryCode, code string) *RecoveryCode {
	n := normalizeRecoveryCode(code)
	if n == "" {
		return nil
	}
	var found *RecoveryCode
	for _, c := range codes {
		h, err := s.hashRecoveryCode(c.KeyID, c.Salt, n)
		if err == nil && subtle.ConstantTimeCompare(h, c.Hash) == 1 {
			found = c
		}
	}
	return found
}

// RecoveryCodes makes a new set of recovery codes; the old set stops working
// (RC-05). It needs a recent identity confirmation (RC-06) and two-step on
// (ErrConflict otherwise).
func (s *Service) RecoveryCodes(ctx context.Context, c *Caller) ([]string, error) {
	if err := s.requireConfirmed(c); err != nil {
		return nil, err
	}
	if !c.Account.TwoStepEnabled() {
		return nil, ErrConflict
	}
	var codes []string
	err := s.store.Atomic(ctx, func(ctx context.Context, tx Store) error {
		var err error
		if codes, err = s.newRecoveryCodes(ctx, tx, c); err != nil {
			return err
		}
		return s.notice(ctx, tx, c.Account, "recovery_codes_generated", nil)
	})
	if err != nil {
		return nil, err
	}
	s.wake()
	return codes, nil
}

func (s *Service) newRecoveryCodes(ctx context.Context, tx Store, c *Caller) ([]string, error) {
	now := s.now()
	codes := make([]string, RecoveryCodeCount)
	stored := make([]*RecoveryCode, RecoveryCodeCount)
	for i := range codes {
		code, err := newRecoveryCode(s.rand)
		if err != nil {
			return nil, err
		}
		salt := make([]byte, 16)
		s.mustRead(salt)
		rc := &RecoveryCode{ID: s.newID("rc"), AccountID: c.Account.ID, KeyID: s.sealer.ActiveKeyID(), Salt: salt, CreatedAt: now}
		if rc.Hash, err = s.hashRecoveryCode(rc.KeyID, salt, normalizeRecoveryCode(code)); err != nil {
			return nil, err
		}
		codes[i], stored[i] = code, rc
	}
	if err := tx.ReplaceRecoveryCodes(ctx, c.Account.ID, stored); err != nil {
		return nil, err
	}
	return codes, s.audit(ctx, tx, event{detail: &RecoveryCodesGenerated{}, account: c.Account, caller: c})
}
