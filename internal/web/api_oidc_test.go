package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/twostep/twostep/internal/twostep"
)

// TestAPIOIDCClients: owners register their organisation's clients; the
// secret comes once; a back-channel URI an owner gives must be https and not
// on a loopback, private or link-local address (API.md §7); members and
// admins are refused; another organisation's client is not found.
func TestAPIOIDCClients(t *testing.T) {
	a := newAPI(t, false)
	owner := a.session("owner@example.com")
	ok := map[string]any{"name": "Notes", "redirect_uris": []string{"https://notes.example.com/cb"}}
	st, b, _ := a.call("POST", "/api/v1/org/oidc-clients", owner, ok)
	a.want(st, 201, b, "create")
	if sec, _ := b["client_secret"].(string); len(sec) < 43 || b["public"] != false {
		t.Errorf("a confidential client's secret of ≥256 bits comes once (API-01): %v", b)
	}
	id := b["id"].(string)

	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no name", map[string]any{"redirect_uris": []string{"https://a.example.com/cb"}}, "name"},
		{"no redirect", map[string]any{"name": "x"}, "redirect_uris"},
		{"fragment", map[string]any{"name": "x", "redirect_uris": []string{"https://a.example.com/cb#x"}}, "redirect_uris"},
		{"relative", map[string]any{"name": "x", "redirect_uris": []string{"/cb"}}, "redirect_uris"},
		{"http back-channel", map[string]any{"name": "x", "redirect_uris": []string{"https://a.example.com/cb"}, "backchannel_logout_uri": "http://a.example.com/bc"}, "backchannel_logout_uri"},
		{"loopback back-channel", map[string]any{"name": "x", "redirect_uris": []string{"https://a.example.com/cb"}, "backchannel_logout_uri": "https://127.0.0.1/bc"}, "backchannel_logout_uri"},
		{"private back-channel", map[string]any{"name": "x", "redirect_uris": []string{"https://a.example.com/cb"}, "backchannel_logout_uri": "https://10.1.2.3/bc"}, "backchannel_logout_uri"},
		{"link-local back-channel", map[string]any{"name": "x", "redirect_uris": []string{"https://a.example.com/cb"}, "backchannel_logout_uri": "https://[fe80::1]/bc"}, "backchannel_logout_uri"},
		{"metadata back-channel", map[string]any{"name": "x", "redirect_uris": []string{"https://a.example.com/cb"}, "backchannel_logout_uri": "https://169.254.169.254/bc"}, "backchannel_logout_uri"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, b, _ := a.call("POST", "/api/v1/org/oidc-clients", owner, tc.body)
			if st != 400 || b["code"] != "invalid_request" || !strings.Contains(b["detail"].(string), tc.field) {
				t.Errorf("%d %v: want 400 invalid_request naming %s", st, b, tc.field)
			}
		})
	}

	st, b, _ = a.call("GET", "/api/v1/org/oidc-clients", owner, nil)
	if st != 200 {
		t.Fatalf("list: %d %v", st, b)
	}
	ctx := context.Background()
	if _, _, err := a.svc.CreateAccount(ctx, twostep.NewAccount{Org: "cloud-legal", Email: "admin@example.com", Role: twostep.RoleAdmin, Password: apiPassword}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := a.svc.CreateOrg(ctx, twostep.NewOrg{Name: "Other", OwnerEmail: "boss@other.example", Password: apiPassword}); err != nil {
		t.Fatal(err)
	}
	admin, boss := a.session("admin@example.com"), a.session("boss@other.example")
	if st, _, _ := a.call("POST", "/api/v1/org/oidc-clients", admin, ok); st != 403 {
		t.Errorf("an admin made a client: %d", st)
	}
	if st, _, _ := a.call("DELETE", "/api/v1/org/oidc-clients/"+id, boss, nil); st != 404 {
		t.Errorf("another organisation's owner deleted the client: %d", st)
	}
	if st, _, _ := a.call("DELETE", "/api/v1/org/oidc-clients/"+id, owner, nil); st != 204 {
		t.Errorf("delete: %d", st)
	}
}
