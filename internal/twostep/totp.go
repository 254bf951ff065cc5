package twostep

import (
	"bytes"
	"crypto/subtle"
	"encoding/base32"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/text/unicode/norm"
)

// TOTP parameters: SHA-1, 6 digits, 30 seconds, as every authenticator app
// understands (OTP-06), with a 160-bit seed (OTP-05) and ±1 step of skew (OTP-07).
const (
	totpPeriod     = 30
	totpSkew       = 1
	totpSecretSize = 20
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// OTPAuthURI returns the key URI an authenticator app reads from a QR code
// (OTP-13): secret in Base32 without padding; issuer and account, without
// colons, percent-encoded as RFC 3986 asks (Google's Key URI format), so that
// a space is %20 and never "+", and "+", "&", "=", "#", "/" and non-ASCII
// letters are escaped in the label and in the issuer parameter alike. A parser
// that reads the query as a form and one that only percent-decodes then see
// the same issuer in both places.
func OTPAuthURI(issuer, account string, secret []byte) string {
	issuer, account = strings.ReplaceAll(issuer, ":", ""), strings.ReplaceAll(account, ":", "")
	q := "secret=" + b32.EncodeToString(secret) + "&issuer=" + uriEscape(issuer, "") + "&algorithm=SHA1&digits=6&period=30"
	return "otpauth://totp/" + uriEscape(issuer, "@") + ":" + uriEscape(account, "@") + "?" + q
}

// uriEscape percent-encodes s (as UTF-8, upper-case hex) except RFC 3986's
// unreserved characters and those in keep. url.QueryEscape writes a space as
// "+" (HTML forms), which RFC 3986 readers take for a plus; url.PathEscape
// leaves "+", "&" and "=" as they are.
func uriEscape(s, keep string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~"+keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// QRPNG returns uri as a QR code of size×size pixels, encoded as PNG.
func QRPNG(uri string, size int) ([]byte, error) {
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return nil, err
	}
	img, err := key.Image(size, size)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// TOTPStep returns the time step that t falls in.
func TOTPStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// TOTPCode returns the 6-digit code of secret at step.
func TOTPCode(secret []byte, step int64) string {
	return totpCode(secret, step, otp.DigitsSix, otp.AlgorithmSHA1)
}

func totpCode(secret []byte, step int64, digits otp.Digits, alg otp.Algorithm) string {
	code, err := totp.GenerateCodeCustom(b32.EncodeToString(secret), time.Unix(step*totpPeriod, 0).UTC(),
		totp.ValidateOpts{Period: totpPeriod, Digits: digits, Algorithm: alg})
	if err != nil {
		panic("twostep: totp: " + err.Error()) // only for a malformed secret, which we never make
	}
	return code
}

// matchTOTP returns the step within ±1 of now whose code equals code, comparing
// every candidate in constant time; ok is false when none matches. Server time
// only (OTP-11).
func matchTOTP(secret []byte, code string, now time.Time) (step int64, ok bool) {
	cur := TOTPStep(now)
	for s := cur - totpSkew; s <= cur+totpSkew; s++ {
		if subtle.ConstantTimeCompare([]byte(TOTPCode(secret, s)), []byte(code)) == 1 {
			step, ok = s, true
		}
	}
	return step, ok
}

// normalizeCode strips spaces and dashes people type in codes, and turns
// full-width digits (as a Japanese keyboard types them) into ASCII.
func normalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\u00a0' {
			return -1
		}
		return r
	}, norm.NFKC.String(code))
}

// checkDigits returns an *InvalidError unless code is n ASCII digits.
func checkDigits(code string, n int) error {
	if len(code) != n {
		return invalid("code", ReasonCodeDigits)
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return invalid("code", ReasonCodeDigits)
		}
	}
	return nil
}
