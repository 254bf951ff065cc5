package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twostep/twostep/internal/twostep"
)

// TestEveryEventInWords: the audit page and the account's activity describe
// every event type the domain writes, in every language the pages have; an
// event type without words (or a typo in one) fails here rather than showing
// as "other" to an administrator (AU-01).
func TestEveryEventInWords(t *testing.T) { // AU-01
	s := &Server{}
	var err error
	if s.pages, err = loadPages(); err != nil {
		t.Fatal(err)
	}
	who := func(id string) string { return map[string]string{"a": "ann@example.com", "j": "joe@example.com"}[id] }
	for _, tag := range languages {
		r := httptest.NewRequest("GET", "/admin/audit", nil)
		r.Header.Set("Accept-Language", tag.String())
		p := s.newPage(r, nil)
		for _, typ := range twostep.EventTypes() {
			e := &twostep.AuditEvent{Type: typ, ActorID: "a", AccountID: "j", Detail: map[string]any{}}
			other := p.T("audit.other", "Type", typ, "Account", "joe@example.com")
			if got := p.auditText(e, who); got == other || strings.TrimSpace(got) == "" {
				t.Errorf("%s: the audit page cannot describe %s: %q", tag, typ, got)
			}
			if _, ok := p.tr("event." + string(typ)); !ok {
				t.Errorf("%s: the activity page cannot describe %s", tag, typ)
			}
		}
	}
}
