package notify_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/twostep/twostep/internal/notify"
	"github.com/twostep/twostep/internal/twostep"
)

// TestJapaneseMessages reads every message a Japanese account can get, in
// every channel it goes by and with each form its data takes, as the reader
// would: nothing of the English wording is left, nor any run of English words
// but the product's name and what the data holds.
func TestJapaneseMessages(t *testing.T) {
	texts := loadTexts(t)
	base := map[string]string{"email": "taro@example.jp", "new_email": "taro@new.example.jp", "issuer": "Cloud Legal",
		"method": "totp", "label": "", "left": "3", "allowed": "true", "code": "493817", "minutes": "10",
		"link": "https://id.example.jp/reset-password/tok", "host": "id.example.jp", "org": "カーボン会計",
		"until": "2026-12-01", "inviter": "hanako@example.jp", "days": "7", "browser": "Chrome", "platform": "macOS", "ip": "203.0.113.7"}
	// Each variant changes some data of base: every method by name alone and
	// with a label its owner gave, each branch of the templates.
	variants := []map[string]string{{}, {"allowed": "false"}, {"link": ""}, {"until": ""}, {"browser": "", "platform": "", "ip": "", "until": ""},
		{"label": "仕事用の電話"}}
	for _, m := range methods(t) {
		variants = append(variants, map[string]string{"method": m})
	}
	entries, err := os.ReadDir(filepath.Join("messages", "ja"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".tmpl")
		for _, v := range variants {
			data := map[string]string{}
			for k, val := range base {
				data[k] = val
			}
			for k, val := range v {
				data[k] = val
			}
			for _, ch := range []string{"email", "sms", "voice"} {
				ja, err := texts.Render(twostep.Message{Channel: ch, Locale: "ja", Template: name, Data: data})
				if err != nil {
					if ch == "email" || !strings.Contains(err.Error(), "no "+ch+" wording") {
						t.Errorf("ja/%s %s %v: %v", name, ch, v, err)
					}
					continue
				}
				en, err := texts.Render(twostep.Message{Channel: ch, Locale: "en", Template: name, Data: data})
				if err != nil {
					t.Fatalf("en/%s %s: %v", name, ch, err)
				}
				read := ja.Subject + "\n" + ja.Text
				for _, s := range englishSentences(en.Subject + "\n" + en.Text) {
					if strings.Contains(read, s) {
						t.Errorf("ja/%s %s %v: English left: %q", name, ch, v, s)
					}
				}
				if words := englishWords(read, data); len(words) > 0 {
					t.Errorf("ja/%s %s %v: English words left: %q\n%s", name, ch, v, words, read)
				}
				if ch == "email" && !strings.Contains(ja.HTML, `<html lang="ja">`) {
					t.Errorf("ja/%s: the HTML part is not lang=ja", name)
				}
			}
		}
	}
}

// TestMethodNames: a notice names every method the domain declares in every
// locale, so that a new method never shows its id to a reader.
func TestMethodNames(t *testing.T) {
	for _, loc := range twostep.Locales {
		for _, m := range methods(t) {
			if got := notify.MethodName(loc, m); got == m || got == "" {
				t.Errorf("%s: method %q has no name", loc, m)
			}
		}
	}
	// Japanese shares no name with English: the same is the English fallback.
	for _, m := range methods(t) {
		if notify.MethodName("ja", m) == notify.MethodName("en", m) {
			t.Errorf("ja: method %q is named in English", m)
		}
	}
}

// methods are the values of the domain's Method constants.
func methods(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../twostep/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	decl := regexp.MustCompile(`(?m)^\s+Method\w+\s+Method = "([a-z_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
			out = append(out, m[1])
		}
	}
	if len(out) < 5 {
		t.Fatalf("found only the methods %q", out)
	}
	return out
}

// englishSentences are the lines and sentences of an English text that have
// four words or more.
func englishSentences(text string) []string {
	var out []string
	for _, s := range regexp.MustCompile(`[.:;!?\n]`).Split(text, -1) {
		s = strings.TrimSpace(s)
		words := 0
		for _, w := range strings.Fields(s) {
			if strings.ContainsAny(w, "abcdefghijklmnopqrstuvwxyz") {
				words++
			}
		}
		if words >= 4 {
			out = append(out, s)
		}
	}
	return out
}

// englishRun is two words or more with a lower-case letter each: codes and
// acronyms (SMS) are in capitals.
var englishRun = regexp.MustCompile(`[A-Za-z'’-]*[a-z][A-Za-z'’-]*(?:[ ,]+[A-Za-z'’-]*[a-z][A-Za-z'’-]*)+`)

// englishWords are the runs of English words left in text once the data's
// values, addresses and links are taken out.
func englishWords(text string, data map[string]string) []string {
	text = regexp.MustCompile(`[\w.+-]+@[\w.-]+|https?://\S+`).ReplaceAllString(text, " ")
	for _, v := range data {
		if v != "" {
			text = strings.ReplaceAll(text, v, " ")
		}
	}
	return englishRun.FindAllString(text, -1)
}
