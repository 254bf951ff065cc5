package twostep_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/twostep/twostep/internal/twostep"
)

// TestReturnURL holds /sign-in?rd= to API.md §8: an absolute URL without user
// info, https (http only when the base URL is http), on the base URL's host
// or under the cookie domain; anything else is dropped (no open redirect).
func TestReturnURL(t *testing.T) { // OP-02: no open redirect
	httpsBase, _ := url.Parse("https://auth.example.test")
	httpBase, _ := url.Parse("http://auth.example.test:8080")
	tests := []struct {
		name   string
		base   *url.URL
		domain string
		rd     string
		want   string // "" when dropped
	}{
		{"app under the domain", httpsBase, "example.test", "https://app.example.test/reports?q=1#top", "https://app.example.test/reports?q=1#top"},
		{"deeper under the domain", httpsBase, "example.test", "https://a.b.example.test/", "https://a.b.example.test/"},
		{"the base URL's host", httpsBase, "example.test", "https://auth.example.test/account/security", "https://auth.example.test/account/security"},
		{"with a port", httpsBase, "example.test", "https://app.example.test:8443/x", "https://app.example.test:8443/x"},
		{"host in capitals", httpsBase, "example.test", "HTTPS://APP.Example.TEST/x", "https://APP.Example.TEST/x"},
		{"http under an http base", httpBase, "example.test", "http://app.example.test:9000/x", "http://app.example.test:9000/x"},
		{"foreign host", httpsBase, "example.test", "https://evil.test/x", ""},
		{"the domain itself is not a sub-domain", httpsBase, "example.test", "https://example.test/", ""},
		{"look-alike suffix", httpsBase, "example.test", "https://example.test.evil.test/", ""},
		{"look-alike without the dot", httpsBase, "example.test", "https://evilexample.test/", ""},
		{"javascript:", httpsBase, "example.test", "javascript:alert(document.cookie)", ""},
		{"javascript: dressed as a host", httpsBase, "example.test", "javascript://app.example.test/%0aalert(1)", ""},
		{"data:", httpsBase, "example.test", "data:text/html,<script>alert(1)</script>", ""},
		{"user info", httpsBase, "example.test", "https://evil.test@app.example.test/", ""},
		{"user info hiding the host", httpsBase, "example.test", "https://app.example.test@evil.test/", ""},
		{"backslash", httpsBase, "example.test", `https://evil.test\@app.example.test/`, ""},
		{"scheme downgrade", httpsBase, "example.test", "http://app.example.test/", ""},
		{"scheme-relative", httpsBase, "example.test", "//app.example.test/", ""},
		{"a path", httpsBase, "example.test", "/account/security", ""},
		{"opaque", httpsBase, "example.test", "https:app.example.test", ""},
		{"no host", httpsBase, "example.test", "https:///app.example.test", ""},
		{"ftp", httpsBase, "example.test", "ftp://app.example.test/", ""},
		{"trailing-dot host", httpsBase, "example.test", "https://app.example.test./", ""},
		{"blank inside", httpsBase, "example.test", "https://app.example.test/ x", ""},
		{"too long", httpsBase, "example.test", "https://app.example.test/" + strings.Repeat("a", 2100), ""},
		{"empty", httpsBase, "example.test", "", ""},
		{"missing cookie domain: a sub-domain", httpsBase, "", "https://app.example.test/", ""},
		{"missing cookie domain: any host ending in a dot", httpsBase, "", "https://evil.test./", ""},
		{"missing cookie domain: the base URL's host", httpsBase, "", "https://auth.example.test/x", "https://auth.example.test/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := twostep.ReturnURL(tt.base, tt.domain, tt.rd); got != tt.want {
				t.Errorf("ReturnURL(%s, %q, %q) = %q, want %q", tt.base, tt.domain, tt.rd, got, tt.want)
			}
		})
	}
}

// TestSecondStepCounts is the one rule forward auth and a required policy
// apply to how a session's second step was met (API.md, before §7).
func TestSecondStepCounts(t *testing.T) { // SU-07, FL-04
	tests := []struct {
		step                   twostep.SecondStep
		optional, whenRequired bool
	}{
		{twostep.SecondStepProven, true, true},
		{twostep.SecondStepRemembered, true, true},
		{twostep.SecondStepUpstream, true, true},
		{twostep.SecondStepNone, true, false},
		{twostep.SecondStepExempt, false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		if got := tt.step.Counts(false); got != tt.optional {
			t.Errorf("%q.Counts(false) = %v, want %v", tt.step, got, tt.optional)
		}
		if got := tt.step.Counts(true); got != tt.whenRequired {
			t.Errorf("%q.Counts(true) = %v, want %v", tt.step, got, tt.whenRequired)
		}
	}
}
