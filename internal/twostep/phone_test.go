package twostep

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePhone(t *testing.T) { // OOB-10 (premium ranges, country allow-list)
	tests := []struct {
		name, phone, country string
		method               Method
		allowed              []string
		want                 *Phone
		err                  *InvalidError // the refusal, or nil
	}{
		{"FR national", "06 12 34 56 78", "FR", MethodSMS, nil, &Phone{"+33612345678", "FR", []Method{MethodSMS, MethodVoice}}, nil},
		{"FR international", "+33 6 12 34 56 78", "", MethodSMS, nil, &Phone{"+33612345678", "FR", []Method{MethodSMS, MethodVoice}}, nil},
		{"FR international, other country given", "+33612345678", "JP", MethodVoice, nil, &Phone{"+33612345678", "FR", []Method{MethodSMS, MethodVoice}}, nil},
		{"JP mobile", "090-1234-5678", "jp", MethodSMS, nil, &Phone{"+819012345678", "JP", []Method{MethodSMS, MethodVoice}}, nil},
		{"US", "(201) 555-0123", "US", MethodSMS, nil, &Phone{"+12015550123", "US", []Method{MethodSMS, MethodVoice}}, nil},
		{"FR fixed line by call", "01 23 45 67 89", "FR", MethodVoice, nil, &Phone{"+33123456789", "FR", []Method{MethodVoice}}, nil},
		{"FR fixed line by SMS", "01 23 45 67 89", "FR", MethodSMS, nil, nil, &InvalidError{Field: "phone", Code: ReasonPhoneFixedSMS}},
		{"too short", "06 12", "FR", MethodSMS, nil, nil, &InvalidError{Field: "phone", Code: ReasonPhoneNotValidIn, Args: map[string]string{"Country": "FR"}}},
		{"premium", "08 99 12 34 56", "FR", MethodVoice, nil, nil, &InvalidError{Field: "phone", Code: ReasonPhonePremium}},
		{"country not allowed", "+819012345678", "", MethodSMS, []string{"FR", "US"}, nil, &InvalidError{Field: "phone", Code: ReasonPhoneCountryNotAllowed, Args: map[string]string{"Country": "JP", "Countries": "FR, US"}}},
		{"no country", "0612345678", "", MethodSMS, nil, nil, &InvalidError{Field: "country", Code: ReasonCountryRequired}},
		{"bad country", "0612345678", "France", MethodSMS, nil, nil, &InvalidError{Field: "country", Code: ReasonCountryCode}},
		{"letters", "call me maybe", "FR", MethodSMS, nil, nil, &InvalidError{Field: "phone", Code: ReasonPhone}},
		{"empty", " ", "FR", MethodSMS, nil, nil, &InvalidError{Field: "phone", Code: ReasonRequired}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePhone(tc.phone, tc.country, tc.method, tc.allowed)
			if tc.err != nil {
				var inv *InvalidError
				if !errors.As(err, &inv) || !cmp.Equal(inv, tc.err) {
					t.Fatalf("got %+v, %v; want %v", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMaskPhone(t *testing.T) {
	for e164, want := range map[string]string{
		"+33612345678": "+33 6 •• •• •• 78", "+819012345678": "+81 9•-••••-••78", "+12015550123": "+1 2••-•••-••23",
	} {
		if got := MaskAddress(MethodSMS, e164); got != want {
			t.Errorf("%s masked as %q, want %q", e164, got, want)
		}
	}
}
