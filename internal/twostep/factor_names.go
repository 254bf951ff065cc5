package twostep

import (
	"strings"
	"unicode/utf8"
)

// MaskAddress shows enough of an e-mail address or phone number for a person to
// recognise it and not enough to learn it.
func MaskAddress(m Method, addr string) string {
	if addr == "" {
		return ""
	}
	switch m {
	case MethodEmail:
		local, domain, ok := strings.Cut(addr, "@")
		if !ok || local == "" {
			return "•••"
		}
		r, _ := utf8.DecodeRuneInString(local)
		return string(r) + "•••@" + domain
	case MethodSMS, MethodVoice:
		return maskPhone(addr)
	}
	return addr
}

// DefaultTOTPLabel is the label of an authenticator app its owner did not name.
const DefaultTOTPLabel = "Authenticator app"

// DefaultPasskeyLabel is the label of a passkey its owner did not name.
const DefaultPasskeyLabel = "Passkey"

// noticeLabel is f's label as a notice says it after the method's name, in
// the reader's language: "" for the default label of an app or a passkey,
// which is English and says no more than the method's name.
func noticeLabel(f *Factor) string {
	if f.Method == MethodTOTP && f.Label == DefaultTOTPLabel || f.Method == MethodWebAuthn && f.Label == DefaultPasskeyLabel {
		return ""
	}
	return f.Label
}
