package web

import (
	"testing"
)

// TestPhoneExampleFollowsCountry: the add-phone page takes the country from
// the browser and shows a number of that country as the example, not always
// a French one; with no country chosen it shows none.
func TestPhoneExampleFollowsCountry(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	tests := []struct {
		lang, says string
	}{
		{"en-US", "As you would dial it in its country, such as (201) 555-0123, or with the country code, such as +1 201-555-0123."},
		{"en-GB", "such as 07400 123456, or with the country code, such as +44 7400 123456."},
		{"fr-FR", "par exemple 06 12 34 56 78, ou avec l’indicatif du pays, par exemple +33 6 12 34 56 78."},
		{"fr-BE", "par exemple 0450 00 12 34, ou avec l’indicatif du pays, par exemple +32 450 00 12 34."},
		{"en", "As you would dial it in its country, or with the country code, starting with +."},
	}
	for _, tt := range tests {
		b.lang = tt.lang
		a := b.get("/account/security/phone")
		want(t, a, 200, "", tt.says)
		if tt.lang != "fr-FR" {
			wantNot(t, a, ">As you would dial it in its country, such as 06 12 34 56 78", ">Comme vous le composeriez dans son pays, par exemple 06 12")
		}
	}
	// The script's material: each country's example on its option.
	want(t, b.get("/account/security/phone"), 200, "", `<option value="JP" data-national="090-1234-5678" data-international="+81 90-1234-5678">`,
		`data-example="As you would dial it in its country, such as {n}, or with the country code, such as {i}."`)
}
