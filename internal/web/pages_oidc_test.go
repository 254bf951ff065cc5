package web

import "testing"

// TestFormActions: the pages of a sign-in a product started let their forms
// lead to the product's redirect URI (chromium applies form-action to the
// redirects after a submission), and nothing in a redirect URI can add a
// directive to the CSP.
func TestFormActions(t *testing.T) {
	for _, c := range []struct{ uri, want string }{
		{"https://notes.example.com/oidc/callback?x=1", "'self' https://notes.example.com"},
		{"http://127.0.0.1:8081/callback", "'self' http://127.0.0.1:8081"},
		{"http://[::1]:8081/cb", "'self' http://[::1]:8081"},
		{"com.example.notes:/callback", "'self' com.example.notes:"},
		{"https://notes.example.com;script-src */cb", "'self'"},
		{"https://notes.example.com/cb; script-src *", "'self' https://notes.example.com"},
		{"https://a b/cb", "'self'"},
		{"", "'self'"},
		{"::", "'self'"},
	} {
		if got := formActions(c.uri); got != c.want {
			t.Errorf("formActions(%q) = %q, want %q", c.uri, got, c.want)
		}
	}
}
