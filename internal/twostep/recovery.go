package twostep

import (
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
