package notify_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twostep/twostep/internal/notify"
	"github.com/twostep/twostep/internal/twostep"
)

// phoneTemplates are the code messages that may go to a phone; the e-mail
// change code goes only to the new address.
var phoneTemplates = []string{"code_sign_in", "code_enrol", "code_confirm_identity", "code_verify"}

// phoneData is what the domain puts in a code message to a phone: no "email".
func phoneData(code string) map[string]string {
	return map[string]string{"code": code, "minutes": "10", "issuer": "Cloud Legal", "host": "auth.example.com"}
}

// gsm7 is the GSM 03.38 default alphabet: an SMS written only with it takes 160
// characters a segment, against 70 for UCS-2.
const gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// TestSMSMessages: the SMS says who sends it, the code, how long it lasts and
// not to share it, fits one GSM-7 segment, and ends with the WebOTP line.
func TestSMSMessages(t *testing.T) {
	texts := loadTexts(t)
	dontShare := map[string]string{"en": "Do not share it", "fr": "Ne le donnez à personne", "ja": "他人に教えないでください"}
	for _, loc := range twostep.Locales {
		for _, name := range phoneTemplates {
			r, err := texts.Render(twostep.Message{Channel: "sms", To: "+33612345678", Locale: loc, Template: name, Data: phoneData("123456")})
			if err != nil {
				t.Errorf("%s/%s: %v", loc, name, err)
				continue
			}
			body, webOTP, ok := strings.Cut(r.Text, "\n@")
			if !strings.HasSuffix(r.Text, "\n@auth.example.com #123456") || !ok || "@"+webOTP != "@auth.example.com #123456" ||
				!strings.HasPrefix(body, "Cloud Legal") || !strings.Contains(body, "123456") ||
				!strings.Contains(body, tenMinutes[loc]) || !strings.Contains(body, dontShare[loc]) {
				t.Errorf("%s/%s: sms:\n%s", loc, name, r.Text)
			}
			// Japanese cannot be written in GSM-7: its SMS goes as UCS-2, 70
			// characters a segment.
			if loc == "ja" {
				if n := utf8.RuneCountInString(r.Text); n > 70 {
					t.Errorf("%s/%s: %d characters, more than one UCS-2 segment:\n%s", loc, name, n, r.Text)
				}
			} else {
				if n := utf8.RuneCountInString(r.Text); n > 160 {
					t.Errorf("%s/%s: %d characters, more than one segment:\n%s", loc, name, n, r.Text)
				}
				if i := strings.IndexFunc(r.Text, func(c rune) bool { return !strings.ContainsRune(gsm7, c) }); i >= 0 {
					t.Errorf("%s/%s: %q is not GSM-7, the SMS goes as UCS-2:\n%s", loc, name, r.Text[i:], r.Text)
				}
			}
			if r.Subject != "" || r.HTML != "" || r.Channel != "sms" || r.To != "+33612345678" || r.Locale != loc {
				t.Errorf("%s/%s: %+v", loc, name, r)
			}
		}
	}
}

// TestVoiceMessages: a call says who calls, reads the digits one at a time,
// twice, and never the code as one number.
func TestVoiceMessages(t *testing.T) {
	texts := loadTexts(t)
	for _, loc := range twostep.Locales {
		for _, name := range phoneTemplates {
			r, err := texts.Render(twostep.Message{Channel: "voice", To: "+33612345678", Locale: loc, Template: name, Data: phoneData("123456")})
			if err != nil {
				t.Errorf("%s/%s: %v", loc, name, err)
				continue
			}
			stop := map[string]string{"ja": "。"}[loc]
			if stop == "" {
				stop = "."
			}
			if strings.Count(r.Text, "1, 2, 3, 4, 5, 6"+stop) != 2 || strings.Contains(r.Text, "123456") ||
				!strings.Contains(r.Text, "Cloud Legal") || !strings.Contains(r.Text, tenMinutes[loc]) ||
				r.Subject != "" || r.HTML != "" {
				t.Errorf("%s/%s: voice %+v", loc, name, r)
			}
		}
	}
}

// TestPhoneWordingRefused: a message with no phone wording, or without the
// host the WebOTP line needs, does not render for a phone.
func TestPhoneWordingRefused(t *testing.T) {
	texts := loadTexts(t)
	data := phoneData("123456")
	data["email"] = "joe@example.com"
	for _, name := range append([]string{"code_email_change", "password_reset"}, notices...) {
		for _, ch := range []string{"sms", "voice"} {
			if _, err := texts.Render(twostep.Message{Channel: ch, Locale: "fr", Template: name, Data: data}); err == nil ||
				!strings.Contains(err.Error(), "no "+ch+" wording") {
				t.Errorf("%s/%s: %v", ch, name, err)
			}
		}
	}
	delete(data, "host")
	if _, err := texts.Render(twostep.Message{Channel: "sms", Locale: "en", Template: "code_sign_in", Data: data}); err == nil {
		t.Error("an SMS rendered without the host of its WebOTP line")
	}
	// The e-mail of the same template neither needs the host nor shows it.
	r, err := texts.Render(twostep.Message{Channel: "email", Locale: "en", Template: "code_sign_in", Data: data})
	if err != nil || strings.Contains(r.Text, "#123456") {
		t.Errorf("email: %v\n%s", err, r.Text)
	}
}

var _ notify.Transport = (*notify.Twilio)(nil)
var _ notify.Transport = (*notify.Webhook)(nil)
