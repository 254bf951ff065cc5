package web

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nicksnyder/go-i18n/v2/i18n"

	"github.com/twostep/twostep/internal/twostep"
)

// TestCataloguesComplete: every message catalogue (the pages' en, fr and ja,
// and the API's English) holds every key that a template or the Go code uses,
// and no key that nothing uses. A key built at run time ("audit."+type,
// "invalid."+code…) counts as used for every value its source can take: every
// event type, reason code, method, role and field name. The failure lists the
// keys, file by file, with their English, ready to translate.
func TestCataloguesComplete(t *testing.T) {
	pageSure, pageMaybe, apiSure, apiMaybe := usedKeys(t)
	en := catalogueFile(t, languages[0].String()+".json")
	files, err := fs.Glob(assets, "locales/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var langs []string
	for _, tag := range languages {
		langs = append(langs, tag.String()+".json")
	}
	for _, f := range files {
		name := filepath.Base(f)
		if name != "api.en.json" && !slices.Contains(langs, name) {
			t.Errorf("%s: a catalogue of a language the pages do not speak (add it to languages)", name)
		}
	}
	check := func(name string, used map[string]bool, want map[string]string) {
		have := catalogueFile(t, name)
		var missing, unused []string
		for id := range want {
			if _, ok := have[id]; !ok {
				missing = append(missing, id)
			}
		}
		for id := range have {
			if !used[id] {
				unused = append(unused, id)
			}
		}
		slices.Sort(missing)
		slices.Sort(unused)
		if len(missing) > 0 {
			var b strings.Builder
			for _, id := range missing {
				fmt.Fprintf(&b, "\n  %q: %q,", id, want[id])
			}
			t.Errorf("%s lacks %d keys (English given):%s", name, len(missing), b.String())
		}
		if len(unused) > 0 {
			t.Errorf("%s has %d keys nothing uses (remove them, or declare where they come from in usedKeys):\n  %s",
				name, len(unused), strings.Join(unused, "\n  "))
		}
	}
	// A page catalogue needs what the pages surely use, what they may use
	// and some catalogue has, and whatever English has.
	pageUsed := maps.Clone(pageSure)
	maps.Copy(pageUsed, pageMaybe)
	want := map[string]string{}
	for id := range pageSure {
		want[id] = en[id]
	}
	for _, name := range langs {
		for id := range catalogueFile(t, name) {
			if pageMaybe[id] {
				want[id] = en[id]
			}
		}
	}
	maps.Copy(want, en)
	for _, name := range langs {
		check(name, pageUsed, want)
	}
	apiUsed := maps.Clone(apiSure)
	maps.Copy(apiUsed, apiMaybe)
	wantAPI := map[string]string{}
	for id := range apiSure {
		wantAPI[id] = "(words for programmers)"
	}
	check("api.en.json", apiUsed, wantAPI)
}

// catalogueFile is a catalogue's messages by id, the "other" form of a
// plural message standing for it.
func catalogueFile(t *testing.T, name string) map[string]string {
	t.Helper()
	data, err := assets.ReadFile("locales/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	out := map[string]string{}
	for id, v := range raw {
		var s string
		if json.Unmarshal(v, &s) != nil {
			var plural map[string]string
			if err := json.Unmarshal(v, &plural); err != nil {
				t.Fatalf("%s: %s: neither a string nor plural forms: %v", name, id, err)
			}
			s = plural["other"]
		}
		out[id] = s
	}
	return out
}

var templateKey = regexp.MustCompile(`\bT "([^"]+)"`)

// usedKeys are the ids the pages and the API look up: surely those written in
// the templates and those the code builds from a prefix and a value, for every
// value the value's source can take (every reason, event type, method, role);
// maybe every string literal of this package's code (a map of ids, the error
// mapping, a T call: only the literals that are ids matter) and a field's
// label for every literal that may name a field.
func usedKeys(t *testing.T) (pages, pagesMaybe, api, apiMaybe map[string]bool) {
	t.Helper()
	pages, pagesMaybe, api, apiMaybe = map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	files, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := fs.ReadFile(assets, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range templateKey.FindAllStringSubmatch(string(data), -1) {
			pages[m[1]] = true
		}
	}
	// Literals: an id written out in Go, wherever it goes (a map of ids, the
	// error mapping, a T call). The domain's literals are the field names an
	// InvalidError may carry.
	webLits := stringLiterals(t, ".")
	for lit := range webLits {
		pagesMaybe[lit], apiMaybe[lit] = true, true
	}
	var fields []string
	for lit := range stringLiterals(t, "../twostep") {
		fields = append(fields, lit)
	}
	for lit := range webLits {
		fields = append(fields, lit)
	}
	for _, f := range fields {
		pagesMaybe["field."+f] = true // p.label
	}
	reasons := append(reasonConstants(t, "../twostep", "Reason"), reasonConstants(t, ".", "twostep.Reason")...)
	for _, r := range reasons {
		pages["invalid."+r], api["reason."+r] = true, true // describe, InvalidText
	}
	for _, typ := range twostep.EventTypes() {
		pagesMaybe["audit."+string(typ)] = true // auditText, else a more precise id
		pages["event."+string(typ)] = true      // the activity, the audit filter
	}
	for _, m := range reasonConstants(t, "../twostep", "Method") {
		pages["method."+m] = true // methodName, factorName, verify.html
	}
	for _, r := range reasonConstants(t, "../twostep", "Role") {
		pages["role."+r] = true // roleName
	}
	for _, kind := range []string{"create", "get", "passwordless"} {
		pages["passkey.no_js."+kind], pages["passkey.unsupported."+kind] = true, true // base.html's passkey block
	}
	for m := time.January; m <= time.December; m++ {
		pages["time.month."+strconv.Itoa(int(m))] = true // page.day
	}
	return pages, pagesMaybe, api, apiMaybe
}

// stringLiterals are the values of the string literals in the Go files of dir,
// tests aside.
func stringLiterals(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if v, err := strconv.Unquote(lit.Value); err == nil {
					out[v] = true
				}
			}
			return true
		})
	}
	return out
}

// TestPlurals: every message with plural forms has exactly the forms CLDR
// gives its language (ja: only "other"; en: "one" and "other"), and says any
// count, from none to millions, with the count in it.
func TestPlurals(t *testing.T) {
	pages, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range languages {
		data, err := assets.ReadFile("locales/" + tag.String() + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatal(err)
		}
		p := &page{Lang: tag.String(), loc: i18n.NewLocalizer(pages.bundle, tag.String())}
		// CLDR's categories for integers ("many" is French for millions,
		// which "other" says as well).
		cldr := map[string][]string{"en": {"one", "other"}, "fr": {"many", "one", "other"}, "ja": {"other"}}[tag.String()]
		for id, v := range raw {
			var forms map[string]string
			if json.Unmarshal(v, &forms) != nil {
				continue
			}
			for form := range forms {
				if !slices.Contains(cldr, form) {
					t.Errorf("%s: %s has the form %q, which %s does not have", tag, id, form, tag)
				}
			}
			if _, ok := forms["other"]; !ok {
				t.Errorf("%s: %s has no \"other\" form", tag, id)
			}
			for _, n := range []int{0, 1, 2, 5, 21, 1000000} {
				s, ok := p.tr(id, "Count", n, "N", n, "Total", 3, "Email", "a@example.com", "Until", "1 Dec", "Account", "ann")
				if !ok || !strings.Contains(s, strconv.Itoa(n)) && !strings.Contains(id, "members.caption") {
					t.Errorf("%s: %s with %d: %q", tag, id, n, s)
				}
			}
		}
	}
}
