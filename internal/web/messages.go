package web

import (
	"encoding/json"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"github.com/twostep/twostep/internal/twostep"
)

// The API and the CLI speak English to programmers and operators: their words
// live in locales/api.en.json, apart from the pages' catalogues, which every
// language the pages speak must fill completely.
var apiLocalizer = sync.OnceValues(func() (*i18n.Localizer, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	if _, err := b.LoadMessageFileFS(assets, "locales/api.en.json"); err != nil {
		return nil, err
	}
	return i18n.NewLocalizer(b, "en"), nil
})

// apiText is the English message id with args, or id itself when the
// catalogue lacks it (a test makes sure it never does).
func apiText(id string, args map[string]string) string {
	loc, err := apiLocalizer()
	if err != nil {
		return id
	}
	lc := &i18n.LocalizeConfig{MessageID: id}
	if len(args) > 0 {
		lc.TemplateData = args
	}
	s, err := loc.Localize(lc)
	if err != nil || s == "" {
		return id
	}
	return s
}

// InvalidText is what is wrong with inv's field, in English, without the
// field's name: "must be an e-mail address such as name@example.com". The
// CLI puts its flag's name in front.
func InvalidText(inv *twostep.InvalidError) string {
	return apiText("reason."+string(inv.Code), inv.Args)
}

// failureText is f in p's language: its message, with the field's label, the
// arguments in words (countries and methods by name), the wait and the tries
// left.
func (s *Server) failureText(p *page, f failure) string {
	var kv []any
	for k, v := range f.args() {
		kv = append(kv, k, p.argText(k, v))
	}
	if f.Reason != "" {
		kv = append(kv, "Field", p.label(f.Field))
	}
	if f.AttemptsLeft != nil {
		kv = append(kv, "Count", *f.AttemptsLeft)
	}
	if f.RetryAfter > 0 {
		kv = append(kv, "Wait", waitText(p, f.RetryAfter), "At", p.Clock(s.clock().Add(f.RetryAfter)))
	}
	return p.T(f.Message, kv...)
}

// fieldMark stands for the field's name while fieldText words a message.
const fieldMark = "\uE000"

// fieldText is f's message as said beside its field: without the field's
// name in front of it, since the field's label says it ("Code: this is
// wrong" would read "Error: Code: this is wrong"). "" when the message does
// not start with the field's name.
func (s *Server) fieldText(p *page, f failure) string {
	if f.Reason == "" {
		return ""
	}
	saved, had := p.labels[f.Field]
	if p.labels == nil {
		p.labels = map[string]string{}
	}
	p.labels[f.Field] = fieldMark
	text := s.failureText(p, f)
	if had {
		p.labels[f.Field] = saved
	} else {
		delete(p.labels, f.Field)
	}
	rest, ok := strings.CutPrefix(text, fieldMark)
	if !ok {
		return ""
	}
	// The separator after the name: ": " in English, " : " in French, "：" in Japanese.
	rest = strings.TrimLeft(rest, " :：\u00a0\u202f")
	r, n := utf8.DecodeRuneInString(rest)
	return string(unicode.ToUpper(r)) + rest[n:]
}

// label is how the page names a form field: its own label, else the usual one,
// else the field's name.
func (p *page) label(field string) string {
	if label, ok := p.labels[field]; ok {
		return label
	}
	if label, ok := p.tr("field." + field); ok {
		return label
	}
	return field
}

// argText is an InvalidError argument in words: a region code becomes the
// country's name, a method its name; the rest are already what they say.
func (p *page) argText(key, v string) string {
	switch key {
	case "Country":
		if name, ok := p.countryName(v); ok {
			return name
		}
	case "Countries":
		var names []string
		for r := range strings.SplitSeq(v, ", ") {
			if name, ok := p.countryName(r); ok {
				names = append(names, name)
			}
		}
		return strings.Join(names, ", ")
	case "Method":
		return p.methodName(v)
	case "Methods":
		var names []string
		for m := range strings.SplitSeq(v, ", ") {
			names = append(names, p.methodName(m))
		}
		return strings.Join(names, ", ")
	}
	return v
}

func waitText(p *page, d time.Duration) string {
	if d < time.Minute {
		return p.T("time.seconds", "Count", int(d.Seconds()))
	}
	return p.T("time.minutes", "Count", int((d+time.Minute-1)/time.Minute))
}
