package twostep

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePhone(t *testing.T) { // OOB-10 (premium ranges, country allow-list)
	tests := []struct {
		name, phone, country string
		method               Method
		allowed              []string
		want                 *Phone
		err                  string // part of the error, or ""
	}{
		{"FR national", "06 12 34 56 78", "FR", MethodSMS, nil, &Phone{"+33612345678", "FR", []Method{MethodSMS, MethodVoice}}, ""},
		{"FR international", "+33 6 12 34 56 78", "", MethodSMS, nil, &Phone{"+33612345678", "FR", []Method{MethodSMS, MethodVoice}}, ""},
		{"FR international, other country given", "+33612345678", "JP", MethodVoice, nil, &Phone{"+33612345678", "FR", []Method{MethodSMS, MethodVoice}}, ""},
		{"JP mobile", "090-1234-5678", "jp", MethodSMS, nil, &Phone{"+819012345678", "JP", []Method{MethodSMS, MethodVoice}}, ""},
		{"US", "(201) 555-0123", "US", MethodSMS, nil, &Phone{"+12015550123", "US", []Method{MethodSMS, MethodVoice}}, ""},
		{"FR fixed line by call", "01 23 45 67 89", "FR", MethodVoice, nil, &Phone{"+33123456789", "FR", []Method{MethodVoice}}, ""},
		{"FR fixed line by SMS", "01 23 45 67 89", "FR", MethodSMS, nil, nil, "fixed line, which cannot receive text messages"},
		{"too short", "06 12", "FR", MethodSMS, nil, nil, "is not a valid number in FR"},
		{"premium", "08 99 12 34 56", "FR", MethodVoice, nil, nil, "premium-rate"},
		{"country not allowed", "+819012345678", "", MethodSMS, []string{"FR", "US"}, nil, "numbers in JP cannot receive codes from this server"},
		{"no country", "0612345678", "", MethodSMS, nil, nil, "invalid country: is required for a national number"},
		{"bad country", "0612345678", "France", MethodSMS, nil, nil, "two-letter country code"},
		{"letters", "call me maybe", "FR", MethodSMS, nil, nil, "not a phone number"},
		{"empty", " ", "FR", MethodSMS, nil, nil, "invalid phone: is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePhone(tc.phone, tc.country, tc.method, tc.allowed)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %+v, %v; want an error saying %q", got, err, tc.err)
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
