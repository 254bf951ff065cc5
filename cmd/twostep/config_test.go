package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
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
			if diff := cmp.Diff(tc.want, c.Dev); diff != "" {
				t.Errorf("Dev (-want +got):\n%s", diff)
			}
			if !tc.want && c.SMSProvider == "outbox" {
				t.Error("with dev mode off, SMS went to the outbox")
			}
		})
	}
}
