// Package notify words Twostep's messages per locale and delivers the outbox
// through SMTP or, in dev mode, keeps them for the outbox page.
package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"text/template"

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
}

// Texts words messages from the templates in messages/LOCALE/TEMPLATE.tmpl, each
// defining "subject" and "text". Each file is a template set of its own, so the
// same part names can be used in every file.
type Texts struct {
	sets map[string]map[string]*template.Template // locale → template name → set
}

// LoadTexts parses the embedded message templates and checks that every template
// exists in every locale and renders with every key it uses.
func LoadTexts() (*Texts, error) {
	t := &Texts{sets: map[string]map[string]*template.Template{}}
	for _, loc := range twostep.Locales {
		dir := "messages/" + loc
		entries, err := messageFS.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("notify: %w", err)
		}
		t.sets[loc] = map[string]*template.Template{}
		for _, e := range entries {
			name := strings.TrimSuffix(e.Name(), ".tmpl")
			tm, err := template.New(name).Option("missingkey=error").ParseFS(messageFS, dir+"/"+e.Name())
			if err != nil {
				return nil, fmt.Errorf("notify: %w", err)
			}
			t.sets[loc][name] = tm
		}
	}
	for _, loc := range twostep.Locales {
		for name := range t.sets["en"] {
			if _, ok := t.sets[loc][name]; !ok {
				return nil, fmt.Errorf("notify: message template %q is missing in %s", name, loc)
			}
			if _, err := t.Render(twostep.Message{Locale: loc, Template: name, Data: sampleData}); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// sampleData holds every key a template may use, so that LoadTexts catches a
// misspelt key (missingkey=error) at start-up rather than at the first send.
var sampleData = map[string]string{"email": "a@example.com", "new_email": "b@example.com", "issuer": "Twostep",
	"method": "totp", "label": "Phone", "left": "3", "allowed": "true", "code": "123456", "minutes": "10",
	"link": "https://twostep.example/reset-password/token"}

// Render words m in its locale (English when the locale is unknown): the
// subject, the plain text, and an HTML version of the text. It fails when the
// template does not exist or m.Data lacks a key the template uses.
func (t *Texts) Render(m twostep.Message) (Rendered, error) {
	set, ok := t.sets[m.Locale]
	if !ok {
		set = t.sets["en"]
	}
	tm, ok := set[m.Template]
	if !ok {
		return Rendered{}, fmt.Errorf("notify: no message template %q in %s", m.Template, m.Locale)
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
