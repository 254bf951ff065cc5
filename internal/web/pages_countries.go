package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/twostep/twostep/internal/twostep"
)

// country is a region a phone number can belong to, named in a page's language.
type country struct {
	Region string // ISO 3166: FR
	Name   string // France
	Code   string // +33
	// National and International are a mobile number of the region as
	// libphonenumber's example writes it: 06 12 34 56 78, +33 6 12 34 56 78
	// ("" when it knows none).
	National, International string
}

// phoneExample is libphonenumber's example mobile number of region (else its
// example of any type), written as dialled there and with the country code.
func phoneExample(region string) (national, international string) {
	num := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE)
	if num == nil {
		num = phonenumbers.GetExampleNumber(region)
	}
	if num == nil {
		return "", ""
	}
	return phonenumbers.Format(num, phonenumbers.NATIONAL), phonenumbers.Format(num, phonenumbers.INTERNATIONAL)
}

// countryList names every region libphonenumber knows in the language tag
// and sorts them by name as that language does.
func countryList(tag language.Tag) []country {
	namer := display.Regions(tag)
	var out []country
	for r := range phonenumbers.GetSupportedRegions() {
		name := ""
		if reg, err := language.ParseRegion(r); err == nil {
			name = namer.Name(reg)
		}
		if name == "" {
			name = r
		}
		c := country{Region: r, Name: name, Code: "+" + strconv.Itoa(phonenumbers.GetCountryCodeForRegion(r))}
		c.National, c.International = phoneExample(r)
		out = append(out, c)
	}
	col := collate.New(tag, collate.Loose)
	slices.SortFunc(out, func(a, b country) int {
		if c := col.CompareString(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Region, b.Region)
	})
	return out
}

// countryName is the name of region in the page's language; false for a
// region phones cannot be in.
func (p *page) countryName(region string) (string, bool) {
	if phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return "", false
	}
	reg, err := language.ParseRegion(region)
	if err != nil {
		return region, true
	}
	if name := display.Regions(language.Make(p.Lang)).Name(reg); name != "" {
		return name, true
	}
	return region, true
}

// phoneRegion is the region of an E.164 number, or "".
func phoneRegion(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(num)
}

// formatPhone writes an E.164 number the international way: +33 6 12 34 56 78.
func formatPhone(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return e164
	}
	return phonenumbers.Format(num, phonenumbers.INTERNATIONAL)
}

// homeCountry is the country to put first in the list: that of a phone number
// the account has already, else that of the browser's preferred language
// (fr-FR and fr: FR; en-US: US; ja: JP), else none.
func homeCountry(r *http.Request, factors []*twostep.Factor) string {
	var pending string
	for _, f := range factors {
		if !isPhone(f.Method) {
			continue
		}
		if reg := phoneRegion(f.Address); reg != "" {
			if f.Status == twostep.FactorActive {
				return reg
			}
			pending = reg
		}
	}
	if pending != "" {
		return pending
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if len(tags) == 0 || tags[0] == language.Und {
		return ""
	}
	reg, conf := tags[0].Region()
	if conf == language.No || phonenumbers.GetCountryCodeForRegion(reg.String()) == 0 {
		return ""
	}
	return reg.String()
}

type countryOption struct {
	country
	Selected bool
}

// countryOptions is the list of countries for the page's language, home first
// and selected selected (home when selected is "").
func (s *Server) countryOptions(p *page, home, selected string) []countryOption {
	if selected == "" {
		selected = home
	}
	all := s.pages.countries[p.Lang]
	out := make([]countryOption, 0, len(all))
	for _, c := range all {
		if c.Region == home {
			out = append([]countryOption{{c, c.Region == selected}}, out...)
			continue
		}
		out = append(out, countryOption{c, c.Region == selected})
	}
	return out
}
