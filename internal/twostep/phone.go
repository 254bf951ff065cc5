package twostep

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Phone is a number that can receive codes, as parsed from what a person typed.
type Phone struct {
	E164     string   // +33612345678
	Region   string   // FR
	Channels []Method // MethodSMS and/or MethodVoice, in that order
}

// ParsePhone reads a phone number typed nationally with its country ("06 12 34
// 56 78", "FR") or internationally ("+33 6 12 34 56 78"), and checks that it can
// receive codes by m: a valid number, of a type that takes that channel (a
// fixed line takes calls only), not premium-rate, in an allowed country (all
// when allowed is empty). Every refusal is an *InvalidError saying which.
func ParsePhone(phone, country string, m Method, allowed []string) (*Phone, error) {
	phone = strings.TrimSpace(phone)
	country = strings.ToUpper(strings.TrimSpace(country))
	if phone == "" {
		return nil, invalid("phone", ReasonRequired)
	}
	if len(phone) > 32 {
		return nil, invalid("phone", ReasonPhoneLong)
	}
	if !strings.HasPrefix(phone, "+") && country == "" {
		return nil, invalid("country", ReasonCountryRequired)
	}
	if country != "" && phonenumbers.GetCountryCodeForRegion(country) == 0 {
		return nil, invalid("country", ReasonCountryCode)
	}
	num, err := phonenumbers.Parse(phone, country)
	if err != nil {
		return nil, invalid("phone", ReasonPhone)
	}
	region := phonenumbers.GetRegionCodeForNumber(num)
	if !phonenumbers.IsValidNumber(num) {
		if country == "" {
			return nil, invalid("phone", ReasonPhoneNotValid)
		}
		return nil, invalid("phone", ReasonPhoneNotValidIn, "Country", country)
	}
	if len(allowed) > 0 && !slices.Contains(allowed, region) {
		return nil, invalid("phone", ReasonPhoneCountryNotAllowed, "Country", region, "Countries", strings.Join(allowed, ", "))
	}
	p := &Phone{E164: phonenumbers.Format(num, phonenumbers.E164), Region: region}
	switch phonenumbers.GetNumberType(num) {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
		p.Channels = []Method{MethodSMS, MethodVoice}
	case phonenumbers.FIXED_LINE, phonenumbers.VOIP:
		p.Channels = []Method{MethodVoice}
	case phonenumbers.PREMIUM_RATE:
		return nil, invalid("phone", ReasonPhonePremium)
	default:
		return nil, invalid("phone", ReasonPhoneType)
	}
	if m == MethodSMS && !slices.Contains(p.Channels, MethodSMS) {
		return nil, invalid("phone", ReasonPhoneFixedSMS)
	}
	return p, nil
}

// maskPhone shows the country code, the first national digit and the last two:
// "+33 6 •• •• •• 78".
func maskPhone(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return "•••"
	}
	intl := phonenumbers.Format(num, phonenumbers.INTERNATIONAL)
	cc, national, ok := strings.Cut(intl, " ")
	if !ok {
		return "•••"
	}
	digits := 0
	for _, r := range national {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	var b strings.Builder
	seen := 0
	for _, r := range national {
		if r < '0' || r > '9' {
			b.WriteRune(r)
			continue
		}
		seen++
		if seen == 1 || seen > digits-2 {
			b.WriteRune(r)
		} else {
			b.WriteRune('•')
		}
	}
	return cc + " " + b.String()
}

// callingCode returns the country calling code of an E.164 number ("33"), or "".
func callingCode(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	return itoa(int(num.GetCountryCode()))
}

// PhoneAdditions caps the phone numbers an account may start to add (OOB-10):
// each addition sends a code to a number nobody has proven, so an account
// typing number after number would pump SMS and calls.
var PhoneAdditions = Cap{Max: 5, Window: 24 * time.Hour}

// takePhoneAddition counts, in tx, one more phone number the account starts to
// add by m, or returns a *ThrottledError (audited by recordCap) once it has
// added PhoneAdditions.Max of them in the window.
func (s *Service) takePhoneAddition(ctx context.Context, tx Store, a *Account, m Method) error {
	t, err := tx.LockThrottle(ctx, "add:phone:"+a.ID)
	if err != nil {
		return err
	}
	after, wait, ok := PhoneAdditions.Take(t, s.now())
	if !ok {
		return &capError{ThrottledError: throttled(ErrThrottled, wait).(*ThrottledError), cap: "phone_additions", channel: string(m)}
	}
	return tx.PutThrottle(ctx, after)
}
