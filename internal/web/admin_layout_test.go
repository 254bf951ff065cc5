package web

import (
	"regexp"
	"strings"
	"testing"
)

// TestAdminOneLayout: members, policy and audit share one layout (the wide
// page, the same navigation, a heading and one line of what the page is);
// the invitation comes before the list; the owner's own row offers nothing
// to do to themselves; "paused" is explained where it is shown.
func TestAdminOneLayout(t *testing.T) {
	e := newEnv(t)
	b := e.setUp(t)
	shape := regexp.MustCompile(`(?s)<main id="main" class="wide">.*?<nav class="subnav" aria-label="Administration">.*?</nav>\s*<h1>[^<]+</h1>\s*<p>[^<]+</p>`)
	for _, path := range []string{"/admin/members", "/admin/policy", "/admin/audit"} {
		a := b.get(path)
		want(t, a, 200, "")
		if !shape.MatchString(a.body) {
			t.Errorf("%s does not have the administration layout:\n%s", path, a.body)
		}
	}
	a := b.get("/admin/members")
	if inv, list := strings.Index(a.body, `id="invite-h"`), strings.Index(a.body, `<table class="data">`); inv < 0 || list < 0 || inv > list {
		t.Errorf("the invitation form is not above the members list")
	}
	row := find(t, a.body, `(?s)(<tr id="member-acc_[a-z0-9]+">\s*<th scope="row">`+regexp.QuoteMeta(ownerEmail)+`</th>.*?</tr>)`)
	for _, offer := range []string{`/role"`, `/reset"`, `/sso"`, `/end-sessions"`} {
		if strings.Contains(row, offer) {
			t.Errorf("the owner's own row offers %s:\n%s", offer, row)
		}
	}
	want(t, a, 200, "", `id="locked-help"`, "Paused: after too many wrong passwords or codes")
}
