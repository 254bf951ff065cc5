// Package notify delivers Twostep's messages: it words them per locale and hands
// them to the dev outbox (and, later, SMTP and SMS providers).
package notify

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io"
	"strings"
	"text/template"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

//go:embed messages
var messageFS embed.FS

// Texts words messages from the templates in messages/LOCALE/TEMPLATE.tmpl, each
// defining "subject" and "text". Each file is a template set of its own, so the
// same part names can be used in every file.
type Texts struct {
	sets map[string]map[string]*template.Template // locale → template name → set
}

// LoadTexts parses the embedded message templates and checks that every template
// exists in every locale and renders.
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
	for name := range t.sets["en"] {
		for _, loc := range twostep.Locales {
			if _, _, err := t.Render(twostep.Message{Locale: loc, Template: name, Data: sampleData}); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

var sampleData = map[string]string{"email": "a@example.com", "issuer": "Twostep", "method": "totp", "label": "Phone",
	"left": "3", "allowed": "true", "code": "123456", "minutes": "10"}

// Render returns the subject and plain text of m in its locale (English when the
// locale is unknown).
func (t *Texts) Render(m twostep.Message) (subject, text string, err error) {
	set, ok := t.sets[m.Locale]
	if !ok {
		set = t.sets["en"]
	}
	tm, ok := set[m.Template]
	if !ok {
		return "", "", fmt.Errorf("notify: no message template %q in %s", m.Template, m.Locale)
	}
	part := func(name string) (string, error) {
		var b bytes.Buffer
		if err := tm.ExecuteTemplate(&b, name, m.Data); err != nil {
			return "", fmt.Errorf("notify: %s/%s: %w", m.Locale, m.Template, err)
		}
		return strings.TrimSpace(b.String()), nil
	}
	if subject, err = part("subject"); err != nil {
		return "", "", err
	}
	text, err = part("text")
	return subject, text, err
}

// Outbox is the dev-mode Sender: it keeps every message in the store, to be read
// at /dev/outbox, and sends nothing.
type Outbox struct {
	store twostep.Store
	texts *Texts
	clock func() time.Time
	rand  io.Reader
}

// NewOutbox returns the dev outbox over store.
func NewOutbox(store twostep.Store, texts *Texts, clock func() time.Time, rand io.Reader) *Outbox {
	return &Outbox{store: store, texts: texts, clock: clock, rand: rand}
}

// Send words m and keeps it.
func (o *Outbox) Send(ctx context.Context, m twostep.Message) error {
	subject, text, err := o.texts.Render(m)
	if err != nil {
		return err
	}
	id := make([]byte, 8)
	if _, err := io.ReadFull(o.rand, id); err != nil {
		return err
	}
	return o.store.AddDevMessage(ctx, &twostep.DevMessage{ID: fmt.Sprintf("msg_%x", id), Channel: m.Channel, To: m.To,
		Subject: subject, Text: text, At: o.clock().UTC()})
}
