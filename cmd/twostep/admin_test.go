package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestUserSetSSO: `user set-sso` is the operator's way back for an account
// moved to SSO (the only owner moved themselves and nobody could undo it), and
// never leaves an organisation without an owner who signs in with a password.
func TestUserSetSSO(t *testing.T) { // ORG-02, ADM-01
	dir := t.TempDir()
	if r := runCmd(t, dir, nil, "the owner's long phrase\n", "org", "create", "--name", "Cloud Legal", "--owner", "owner@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("org create: %+v", r)
	}
	oneLineError(t, runCmd(t, dir, nil, "", "user", "set-sso", "--email", "owner@example.com"), "user set-sso needs --email and one of --on or --off")
	oneLineError(t, runCmd(t, dir, nil, "", "user", "set-sso", "--email", "owner@example.com", "--on", "--off"), "user set-sso needs --email and one of --on or --off")
	oneLineError(t, runCmd(t, dir, nil, "", "user", "set-sso", "--email", "ghost@example.com", "--off"), "--email no account has the e-mail ghost@example.com")
	oneLineError(t, runCmd(t, dir, nil, "", "user", "set-sso", "--email", "owner@example.com", "--on"),
		"owner@example.com is the organisation's only owner who can sign in with a password: make another owner first")

	if r := runCmd(t, dir, nil, "the second owner's phrase\n", "user", "create", "--org", "cloud-legal", "--email", "second@example.com", "--role", "owner", "--password-stdin"); r.code != 0 {
		t.Fatalf("user create: %+v", r)
	}
	if r := runCmd(t, dir, nil, "", "user", "set-sso", "--email", "owner@example.com", "--on"); r.code != 0 || r.stdout != "owner@example.com signs in through the organisation's SSO; its sessions are ended.\n" {
		t.Errorf("set-sso --on: %+v", r)
	}
	if r := runCmd(t, dir, nil, "", "user", "set-sso", "--email", "owner@example.com", "--off"); r.code != 0 || r.stdout != "owner@example.com signs in with a Twostep password.\n" {
		t.Errorf("set-sso --off: %+v", r)
	}
	// An account that never had a password gets a link to choose one.
	if r := runCmd(t, dir, nil, "", "user", "create", "--org", "cloud-legal", "--email", "sso@example.com", "--sso"); r.code != 0 {
		t.Fatalf("user create --sso: %+v", r)
	}
	r := runCmd(t, dir, nil, "", "user", "set-sso", "--email", "sso@example.com", "--off")
	if r.code != 0 || !regexp.MustCompile(`It has no password yet: they set one at http://127\.0\.0\.1:8080/set-password/[A-Za-z0-9_-]{43} `).MatchString(r.stdout) {
		t.Errorf("set-sso --off without a password: %+v", r)
	}
	if !strings.Contains(runCmd(t, dir, nil, "", "help").stdout, "user set-sso --email EMAIL --on|--off") {
		t.Error("help does not list user set-sso")
	}
}

// TestFreeTextFlags: the operator's free text goes through the same check as
// the API's (AU-04).
func TestFreeTextFlags(t *testing.T) { // AU-04
	dir := t.TempDir()
	runCmd(t, dir, nil, "", "migrate") // which logs what it applies
	oneLineError(t, runCmd(t, dir, nil, "", "org", "create", "--name", "Cloud\u202eLegal", "--slug", "cloud", "--owner", "owner@example.com"),
		"--name must not hold control characters (such as line breaks) or characters that change the text direction; it holds U+202E at character 6")
}
