package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/twostep/twostep/internal/twostep"
)

// TestAPIKeysOwners: owners list, make and revoke their organisation's
// Verify API keys; the secret comes once; members get 403; another
// organisation's key is not found (API-01, CS-02).
func TestAPIKeysOwners(t *testing.T) { // API-01, CS-02
	a := newAPI(t, false)
	ctx := context.Background()
	if _, _, err := a.svc.CreateAccount(ctx, twostep.NewAccount{Org: "cloud-legal", Email: "joe@example.com", Role: twostep.RoleMember, Password: apiPassword}); err != nil {
		t.Fatal(err)
	}
	member := a.session("joe@example.com")
	st, b, _ := a.call("POST", "/api/v1/org/api-keys", member, map[string]string{"name": "backend"})
	a.want(st, 403, b, "member creates")
	owner := a.session("owner@example.com")
	st, b, _ = a.call("POST", "/api/v1/org/api-keys", owner, map[string]string{"name": ""})
	a.want(st, 400, b, "no name")
	st, b, _ = a.call("POST", "/api/v1/org/api-keys", owner, map[string]string{"name": "backend"})
	a.want(st, 201, b, "owner creates")
	id, secret := b["id"].(string), b["secret"].(string)
	if !strings.HasPrefix(id, "SK") || len(secret) < 43 {
		t.Fatalf("key: %v", b)
	}
	st, b, _ = a.call("GET", "/api/v1/org/api-keys", owner, nil)
	a.want(st, 200, b, "list")
	if raw := b["_raw"].(string); !strings.Contains(raw, id) || strings.Contains(raw, secret) || strings.Contains(raw, `"secret"`) {
		t.Errorf("list: %s", raw)
	}
	other, _, _, err := a.svc.CreateOrg(ctx, twostep.NewOrg{Name: "Other", OwnerEmail: "boss@other.example", Password: apiPassword})
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _, err := a.svc.CreateAPIKey(ctx, nil, other.ID, "theirs")
	if err != nil {
		t.Fatal(err)
	}
	st, b, _ = a.call("DELETE", "/api/v1/org/api-keys/"+otherKey.ID, owner, nil)
	a.want(st, 404, b, "another organisation's key")
	st, b, _ = a.call("DELETE", "/api/v1/org/api-keys/"+id, owner, nil)
	a.want(st, 204, b, "revoke")
	if _, err := a.svc.AuthenticateKey(ctx, id, secret, "", ""); err != twostep.ErrUnauthenticated {
		t.Errorf("revoked key authenticates: %v", err)
	}
	evs, _ := a.db.Events(ctx, twostep.EventFilter{Type: twostep.EventAPIKeyCreated})
	if len(evs) != 2 {
		t.Errorf("api_key.created events: %d", len(evs))
	}
}
