package main

import (
	"strings"
	"testing"
)

// TestSSODomainCLI: the operator gives and takes e-mail domains; a domain
// belongs to one organisation (API.md §12).
func TestSSODomainCLI(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"Acme", "Other"} {
		if r := runCmd(t, dir, nil, "", "org", "create", "--name", name, "--owner", "owner@"+strings.ToLower(name)+".test"); r.code != 0 {
			t.Fatalf("org create: %+v", r)
		}
	}
	if r := runCmd(t, dir, nil, "", "org", "sso-domain", "add", "--org", "acme", "Acme.Test"); r.code != 0 || !strings.Contains(r.stdout, "acme.test") {
		t.Errorf("sso-domain add: %+v", r)
	}
	oneLineError(t, runCmd(t, dir, nil, "", "org", "sso-domain", "add", "--org", "other", "acme.test"),
		"the domain acme.test already belongs to an organisation")
	oneLineError(t, runCmd(t, dir, nil, "", "org", "sso-domain", "add", "--org", "acme", "not a domain"), "DOMAIN")
	oneLineError(t, runCmd(t, dir, nil, "", "org", "sso-domain", "add", "--org", "nowhere", "x.test"),
		"--org no organisation has the id or slug nowhere")
	oneLineError(t, runCmd(t, dir, nil, "", "org", "sso-domain", "add", "acme.test"), "needs --org ORG and one DOMAIN")
	oneLineError(t, runCmd(t, dir, nil, "", "org", "sso-domain", "remove", "--org", "other", "acme.test"),
		"organisation other has no SSO domain acme.test")
	if r := runCmd(t, dir, nil, "", "org", "sso-domain", "remove", "--org", "acme", "acme.test"); r.code != 0 {
		t.Errorf("sso-domain remove: %+v", r)
	}
	if r := runCmd(t, dir, nil, "", "org", "sso-domain", "add", "--org", "other", "acme.test"); r.code != 0 {
		t.Errorf("a removed domain given to another organisation: %+v", r)
	}
}
