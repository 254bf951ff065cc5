package main

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

// TestDevModeDefault: dev mode turns itself on only for a newcomer's first run —
// no SMTP, no SMS provider, a loopback listen address and an http base URL —
// and never implicitly otherwise (API.md §2, TWOSTEP_DEV; issue 11, item 11).
func TestDevModeDefault(t *testing.T) {
	tests := []struct {
		name string
		raw  map[string]string
		want bool
	}{
		{"zero configuration", nil, true},
		{"loopback IPv4", map[string]string{"listen": "127.0.0.1:8080"}, true},
		{"loopback IPv6", map[string]string{"listen": "[::1]:8080"}, true},
		{"localhost", map[string]string{"listen": "localhost:8080"}, true},
		{"http base URL on loopback", map[string]string{"base_url": "http://127.0.0.1:8080"}, true},
		{"https base URL", map[string]string{"base_url": "https://auth.example.com"}, false},
		{"https base URL, loopback listen", map[string]string{"listen": "127.0.0.1:8080", "base_url": "https://auth.example.com"}, false},
		{"every interface", map[string]string{"listen": ":8080"}, false},
		{"all IPv4 interfaces", map[string]string{"listen": "0.0.0.0:8080"}, false},
		{"a public address", map[string]string{"listen": "192.0.2.10:8080"}, false},
		{"a host name", map[string]string{"listen": "auth.example.com:8080"}, false},
		{"SMTP", map[string]string{"smtp_url": "smtp+insecure://127.0.0.1:25"}, false},
		{"SMS provider", map[string]string{"sms_provider": "webhook", "sms_webhook_url": "https://sms.example.com", "sms_webhook_secret": "s"}, false},
		{"explicitly on with https", map[string]string{"base_url": "https://auth.example.com", "dev": "true"}, true},
		{"explicitly off on loopback", map[string]string{"dev": "false"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := map[string]source{}
			for k, v := range tc.raw {
				raw[k] = source{v, envName(k)}
			}
			c, err := parseConfig(raw)
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(tc.want, c.Dev); diff != "" {
				t.Errorf("Dev (-want +got):\n%s", diff)
			}
			if !tc.want && c.SMSProvider == "outbox" {
				t.Error("with dev mode off, SMS went to the outbox")
			}
		})
	}
}

// TestSettingsDocumented: the settings table is the one list of settings, and
// docs/configuration.md describes exactly its settings, each with its default
// when that is a plain value; the README names no setting that does not exist.
func TestSettingsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "\n## Settings\n")
	if start < 0 {
		t.Fatal("docs/configuration.md has no Settings section")
	}
	doc = doc[start:]
	if end := strings.Index(doc[1:], "\n## "); end >= 0 {
		doc = doc[:end+1]
	}
	variable := regexp.MustCompile(`TWOSTEP_[A-Z0-9_]+`)
	rows := map[string]string{} // variable → its table row
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| `TWOSTEP_") {
			continue
		}
		names, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " | ")
		for _, v := range variable.FindAllString(names, -1) {
			rows[v] = line
		}
	}
	var table []string
	for _, s := range settings {
		table = append(table, envName(s.name))
		row, ok := rows[envName(s.name)]
		if !ok {
			continue // cmp.Diff below says so
		}
		if s.def != "" && s.derived == nil && !strings.Contains(row, s.def) {
			t.Errorf("docs/configuration.md: the row of %s does not give its default %q:\n%s", envName(s.name), s.def, row)
		}
	}
	documented := slices.Sorted(maps.Keys(rows))
	slices.Sort(table)
	if diff := gocmp.Diff(table, documented); diff != "" {
		t.Errorf("settings in the table (-) and in docs/configuration.md's Settings table (+):\n%s", diff)
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range variable.FindAllString(string(readme), -1) {
		// TWOSTEP_NAME is the README's pattern; TWOSTEP_TEST_* configure the tests.
		if !slices.Contains(table, v) && v != "TWOSTEP_NAME" && !strings.HasPrefix(v, "TWOSTEP_TEST_") {
			t.Errorf("README.md names %s, which is no setting", v)
		}
	}
}

// TestSettingsHelp: each command's -h lists every setting as a flag with its
// variable, its file key and, when it has one, its default.
func TestSettingsHelp(t *testing.T) {
	var out bytes.Buffer
	fs := newFlags("migrate")
	configFlags(fs, func(string) string { return "" })
	if err := parseFlags(fs, []string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	help := out.String()
	for _, s := range settings {
		want := "[env " + envName(s.name) + ", file key " + s.name + "]"
		if !strings.Contains(help, "-"+flagName(s.name)) || !strings.Contains(help, want) {
			t.Errorf("-h lacks --%s or %q:\n%s", flagName(s.name), want, help)
		}
		if d := cmp.Or(s.defDoc, s.def); d != "" && !strings.Contains(help, "(default "+d+")") {
			t.Errorf("-h does not give the default of --%s, %s", flagName(s.name), d)
		}
	}
}
