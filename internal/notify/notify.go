// Package notify words Twostep's messages per locale and delivers the outbox:
// e-mail through SMTP, SMS and voice calls through Twilio or a signed webhook,
// or, in dev mode, keeps them for the outbox page.
package notify

import (
	"bytes"
	"cmp"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

//go:embed messages
var messageFS embed.FS

// Rendered is a message in words, ready for a Transport. HTML is empty for
// channels that carry only text.
type Rendered struct {
	Channel string // "email", "sms" or "voice"
	To      string
	Locale  string
	Subject string
	Text    string
	HTML    string
	// Set by the worker for a transport: how long the message stays worth
	// delivering (its code's remaining life; 0: unknown), when it was queued,
	// and which attempt this is (1 for the first).
	ValidFor time.Duration
	QueuedAt time.Time
	Attempt  int
}

// Texts words messages from the templates in messages/LOCALE/TEMPLATE.tmpl, each
// defining "subject" and "text" (the e-mail) and, for a message that may go to
// a phone, "sms" and "voice". Each file is a template set of its own, so the
// same part names can be used in every file. The function digits spells a
// code for text-to-speech: "1, 2, 3". Every message gets the key "product",
// the product's name (WithProduct), which brands its subject, body, SMS and call.
type Texts struct {
	sets    map[string]map[string]*template.Template // locale → template name → set
	product string
}

// DefaultProduct is the product's name in messages until WithProduct says another.
const DefaultProduct = "Twostep"

// WithProduct returns t wording messages in the name of product
// (TWOSTEP_PRODUCT_NAME); "" keeps DefaultProduct.
func (t *Texts) WithProduct(product string) *Texts {
	c := *t
	if product != "" {
		c.product = product
	}
	return &c
}

// phoneChannels are the channels worded by a part of their own name; "email"
// is worded by "subject" and "text".
var phoneChannels = []string{"sms", "voice"}

// funcs are the functions of loc's templates: digits, and method, which
// names a method (its id, such as "totp") in loc.
func funcs(loc string) template.FuncMap {
	return template.FuncMap{"digits": digits, "method": func(m string) string { return MethodName(loc, m) }}
}

// methodNames name each method in each locale, as a notice says it: "A new
// two-step method was added: authenticator app".
var methodNames = map[string]map[string]string{
	"en": {"totp": "authenticator app", "email": "e-mail", "sms": "text message", "voice": "phone call", "recovery_code": "recovery code", "webauthn": "passkey or security key"},
	"fr": {"totp": "application d'authentification", "email": "e-mail", "sms": "SMS", "voice": "appel téléphonique", "recovery_code": "code de récupération", "webauthn": "clé d'accès ou clé de sécurité"},
	"ja": {"totp": "認証アプリ", "email": "メール", "sms": "SMS", "voice": "音声通話", "recovery_code": "リカバリーコード", "webauthn": "パスキーまたはセキュリティキー"},
}

// MethodName is method m's name in loc, else in English, else m itself.
func MethodName(loc, m string) string {
	if name, ok := methodNames[loc][m]; ok {
		return name
	}
	if name, ok := methodNames["en"][m]; ok {
		return name
	}
	return m
}

// months name the months in the languages whose dates say them.
var months = map[string][12]string{
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	"fr": {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
}

// dayIn returns the template function "day" of locale loc: a date the domain
// gives as 2006-01-02 said as people of loc write it ("3 March 2026", "3 mars
// 2026", "2026年3月3日"); anything else is left as it is.
func dayIn(loc string) func(string) string {
	return func(s string) string {
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return s
		}
		if loc == "ja" {
			return fmt.Sprintf("%d年%d月%d日", t.Year(), int(t.Month()), t.Day())
		}
		names, ok := months[loc]
		if !ok {
			names = months["en"]
		}
		day := strconv.Itoa(t.Day())
		if loc == "fr" && t.Day() == 1 {
			day = "1er" // le 1er mars
		}
		return fmt.Sprintf("%s %s %d", day, names[t.Month()-1], t.Year())
	}
}

// digits spells s one character at a time, "123" as "1, 2, 3", so that
// text-to-speech reads each digit rather than a number.
func digits(s string) string {
	return strings.Join(strings.Split(s, ""), ", ")
}

// LoadTexts parses the embedded message templates and checks that every
// template exists in every locale, with the same channels, and renders with
// every key it uses; a phone wording must not need "email" and must end with
// the WebOTP line.
func LoadTexts() (*Texts, error) {
	t := &Texts{sets: map[string]map[string]*template.Template{}, product: DefaultProduct}
	for _, loc := range twostep.Locales {
		dir := "messages/" + loc
		entries, err := messageFS.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("notify: %w", err)
		}
		t.sets[loc] = map[string]*template.Template{}
		for _, e := range entries {
			name := strings.TrimSuffix(e.Name(), ".tmpl")
			tm, err := template.New(name).Funcs(funcs(loc)).Funcs(template.FuncMap{"day": dayIn(loc)}).Option("missingkey=error").
				ParseFS(messageFS, dir+"/"+e.Name())
			if err != nil {
				return nil, fmt.Errorf("notify: %w", err)
			}
			t.sets[loc][name] = tm
		}
	}
	phoneData := map[string]string{}
	for k, v := range sampleData {
		if k != "email" {
			phoneData[k] = v
		}
	}
	webOTP := "\n@" + sampleData["host"] + " #" + sampleData["code"]
	for _, loc := range twostep.Locales {
		for name, en := range t.sets["en"] {
			tm, ok := t.sets[loc][name]
			if !ok {
				return nil, fmt.Errorf("notify: message template %q is missing in %s", name, loc)
			}
			if _, err := t.Render(twostep.Message{Channel: "email", Locale: loc, Template: name, Data: sampleData}); err != nil {
				return nil, err
			}
			for _, ch := range phoneChannels {
				if (en.Lookup(ch) == nil) != (tm.Lookup(ch) == nil) {
					return nil, fmt.Errorf("notify: message template %q: %s wording in en or %s, not both", name, ch, loc)
				}
				if tm.Lookup(ch) == nil {
					continue
				}
				r, err := t.Render(twostep.Message{Channel: ch, Locale: loc, Template: name, Data: phoneData})
				if err != nil {
					return nil, err
				}
				if ch == "sms" && !strings.HasSuffix(r.Text, webOTP) {
					return nil, fmt.Errorf("notify: %s/%s: the SMS does not end with the WebOTP line \"@{{.host}} #{{.code}}\"", loc, name)
				}
			}
		}
	}
	return t, nil
}

// sampleData holds every key a template may use, so that LoadTexts catches a
// misspelt key (missingkey=error) at start-up rather than at the first send.
var sampleData = map[string]string{"email": "a@example.com", "new_email": "b@example.com", "issuer": "Twostep",
	"method": "totp", "label": "Phone", "left": "3", "allowed": "true", "code": "123456", "minutes": "10",
	"link": "https://twostep.example/reset-password/token", "host": "twostep.example",
	"org": "Cloud Legal", "until": "2026-12-01", "inviter": "owner@example.com", "days": "7", "product": "Twostep"}

// Render words m in its locale (English when the locale is unknown). For an
// e-mail (Channel "email" or empty) that is the subject, the plain text, and
// an HTML version of the text; for "sms" and "voice" it is only Text, from the
// part of that name: the SMS, or the script a call reads. It fails when the
// template does not exist, has no wording for the channel, or m.Data lacks a
// key the template uses.
func (t *Texts) Render(m twostep.Message) (Rendered, error) {
	set, ok := t.sets[m.Locale]
	if !ok {
		set = t.sets["en"]
	}
	tm, ok := set[m.Template]
	if !ok {
		return Rendered{}, fmt.Errorf("notify: no message template %q in %s", m.Template, m.Locale)
	}
	if _, ok := m.Data["product"]; !ok {
		data := make(map[string]string, len(m.Data)+1)
		maps.Copy(data, m.Data)
		data["product"] = cmp.Or(t.product, DefaultProduct)
		m.Data = data
	}
	part := func(name string) (string, error) {
		var b bytes.Buffer
		if err := tm.ExecuteTemplate(&b, name, m.Data); err != nil {
			return "", fmt.Errorf("notify: %s/%s: %w", m.Locale, m.Template, err)
		}
		return strings.TrimSpace(b.String()), nil
	}
	r := Rendered{Channel: m.Channel, To: m.To, Locale: m.Locale}
	var err error
	if slices.Contains(phoneChannels, m.Channel) {
		if tm.Lookup(m.Channel) == nil {
			return Rendered{}, fmt.Errorf("notify: message template %q has no %s wording", m.Template, m.Channel)
		}
		if r.Text, err = part(m.Channel); err != nil {
			return Rendered{}, err
		}
		return r, nil
	}
	if r.Subject, err = part("subject"); err != nil {
		return Rendered{}, err
	}
	if r.Text, err = part("text"); err != nil {
		return Rendered{}, err
	}
	if r.HTML, err = toHTML(r, m.Data["code"], m.Data["link"]); err != nil {
		return Rendered{}, fmt.Errorf("notify: %s/%s: %w", m.Locale, m.Template, err)
	}
	return r, nil
}

// paragraph is one block of the text; Kind "code" or "link" when the block is
// exactly the code or the link, which the HTML version then emphasises.
type paragraph struct {
	Kind  string
	Lines []string
}

// htmlBody is the HTML version of a text: html/template escapes every line and
// refuses a link that is not http(s).
var htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: sans-serif; line-height: 1.5">
{{range .Paragraphs}}{{if eq .Kind "code"}}<p style="font-size: 1.6em; letter-spacing: 0.2em"><strong>{{index .Lines 0}}</strong></p>
{{else if eq .Kind "link"}}<p><a href="{{index .Lines 0}}"><strong>{{index .Lines 0}}</strong></a></p>
{{else}}<p>{{range $i, $l := .Lines}}{{if $i}}<br>{{end}}{{$l}}{{end}}</p>
{{end}}{{end}}</body></html>
`))

// toHTML writes the text as escaped paragraphs, so that the HTML part always says
// exactly what the text part says.
func toHTML(r Rendered, code, link string) (string, error) {
	var ps []paragraph
	for _, block := range strings.Split(r.Text, "\n\n") {
		block = strings.TrimSpace(block)
		p := paragraph{Lines: strings.Split(block, "\n")}
		switch {
		case block == "":
			continue
		case code != "" && block == code:
			p.Kind = "code"
		case link != "" && block == link:
			p.Kind = "link"
		}
		ps = append(ps, p)
	}
	var b bytes.Buffer
	err := htmlBody.Execute(&b, map[string]any{"Lang": r.Locale, "Subject": r.Subject, "Paragraphs": ps})
	return b.String(), err
}
