package twostep

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pquerna/otp"
)

// The fuzz targets below check that what people and programs type never makes
// the parsers panic, and that a refusal is a precise *InvalidError.

func FuzzParsePhone(f *testing.F) {
	for _, s := range [][2]string{{"06 12 34 56 78", "FR"}, {"+33 6 12 34 56 78", ""}, {"090-1234-5678", "JP"}, {"+1 (201) 555-0123", "us"},
		{"08 99 12 34 56", "FR"}, {"", ""}, {"+", "ZZ"}, {"++33", "FR"}, {"٠٦١٢٣٤٥٦٧٨", "FR"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, phone, country string) {
		for _, m := range []Method{MethodSMS, MethodVoice} {
			p, err := ParsePhone(phone, country, m, nil)
			if err != nil {
				if _, ok := err.(*InvalidError); !ok {
					t.Fatalf("ParsePhone(%q, %q): %T %v, want an *InvalidError", phone, country, err, err)
				}
				continue
			}
			if !strings.HasPrefix(p.E164, "+") || len(p.Channels) == 0 || m == MethodSMS && p.Channels[0] != MethodSMS {
				t.Fatalf("ParsePhone(%q, %q) = %+v", phone, country, p)
			}
			if again, err := ParsePhone(p.E164, "", m, nil); err != nil || again.E164 != p.E164 {
				t.Fatalf("E.164 %s does not parse back: %v", p.E164, err)
			}
			_ = maskPhone(p.E164)
		}
	})
}

func FuzzClientVersion(f *testing.F) {
	for _, s := range []string{"3.1.0", "3.10.0", "3", "1.2.3.4", "", "3..1", "-1", "+1", "99999999999", "3.1.0-beta"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseClientVersion("client_version", s)
		if err != nil {
			if _, ok := err.(*InvalidError); !ok {
				t.Fatalf("%q: %T", s, err)
			}
			return
		}
		if v.Less(v) {
			t.Fatalf("%q is less than itself", s)
		}
	})
}

func FuzzCodeFormat(f *testing.F) {
	for _, s := range [][2]string{{"totp", "123456"}, {"totp", "12 34 56"}, {"email", "１２３４５６"}, {"recovery_code", "abcd-efgh-ijkl-mnop"},
		{"recovery_code", "ABCD EFGH IJKL MNOP"}, {"sms", ""}, {"", "123456"}, {"webauthn", "x"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, method, code string) {
		got, err := checkCodeFormat(Method(method), code)
		if err != nil {
			if _, ok := err.(*InvalidError); !ok {
				t.Fatalf("%q %q: %T", method, code, err)
			}
			return
		}
		if Method(method) != MethodRecoveryCode && (len(got) != 6 || strings.Trim(got, "0123456789") != "") {
			t.Fatalf("%q %q accepted as %q", method, code, got)
		}
	})
}

func FuzzOTPAuthURI(f *testing.F) {
	for _, s := range [][2]string{{"Twostep", "joe@example.com"}, {"Cloud: Legal", "a:b@c"}, {"Émile & Zoë", "ü@ß.de"}, {"", ""}, {"a/b?c#d", "%zz"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, issuer, account string) {
		if !utf8.ValidString(issuer) || !utf8.ValidString(account) {
			return
		}
		uri := OTPAuthURI(issuer, account, []byte("12345678901234567890"))
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatalf("%q: %v", uri, err)
		}
		label, _ := url.PathUnescape(strings.TrimPrefix(u.EscapedPath(), "/"))
		if u.Scheme != "otpauth" || u.Host != "totp" || strings.Count(label, ":") != 1 { // OTP-13
			t.Fatalf("%q: label %q", uri, label)
		}
		key, err := otp.NewKeyFromURL(uri)
		if err != nil || key.Secret() != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" {
			t.Fatalf("%q does not read back: %v", uri, err)
		}
	})
}

func FuzzParseKeys(f *testing.F) {
	f.Add("k1:" + strings.Repeat("A", 43) + "=\n")
	f.Add("# comment\n\nk1:AAAA")
	f.Add(":\n:")
	f.Fuzz(func(t *testing.T, data string) {
		keys, err := ParseKeys([]byte(data))
		if err == nil && len(keys) == 0 {
			t.Fatal("no error and no key")
		}
		for _, k := range keys {
			if len(k.Secret) != 32 {
				t.Fatalf("key %q of %d bytes", k.ID, len(k.Secret))
			}
		}
	})
}

func TestCodeFormatTyping(t *testing.T) {
	for typed, want := range map[string]string{"123456": "123456", "123 456": "123456", "１２３ ４５６": "123456", "12-34-56": "123456"} {
		if got, err := checkCodeFormat(MethodTOTP, typed); err != nil || got != want {
			t.Errorf("%q read as %q, %v; want %q", typed, got, err, want)
		}
	}
}
