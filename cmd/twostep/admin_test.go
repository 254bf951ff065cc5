package main

import (
	"testing"
)

// TestFreeTextFlags: the operator's free text goes through the same check as
// the API's (AU-04).
func TestFreeTextFlags(t *testing.T) { // AU-04
	dir := t.TempDir()
	runCmd(t, dir, nil, "", "migrate") // which logs what it applies
	oneLineError(t, runCmd(t, dir, nil, "", "org", "create", "--name", "Cloud\u202eLegal", "--slug", "cloud", "--owner", "owner@example.com"),
		"--name must not hold control characters (such as line breaks) or characters that change the text direction; it holds U+202E at character 6")
}
