package web_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/twostep"
)

// TestAPIDeviceThroughEmailLock: a stranger locks a member's e-mail with ten
// wrong passwords; the member's known device still signs in (RL-13); any other
// client gets the generic lock answer, the same bytes whatever device token it
// shows (RL-08, EN-01); the members list and the member's activity show the
// lock and its end; the admin's unlock clears it (RL-11).
func TestAPIDeviceThroughEmailLock(t *testing.T) { // RL-13, RL-08, RL-11, EN-01
	a := newAPI(t, false)
	ctx := context.Background()
	owner := a.session("owner@example.com")
	joe, _, err := a.svc.CreateAccount(ctx, twostep.NewAccount{Org: "cloud-legal", Email: "joe@example.com", Password: apiPassword})
	if err != nil {
		t.Fatal(err)
	}
	signIn := func(password, device string) (int, map[string]any) {
		t.Helper()
		body := map[string]string{"email": "joe@example.com", "password": password}
		if device != "" {
			body["device_token"] = device
		}
		st, b, _ := a.call("POST", "/api/v1/sign-in", "", body)
		return st, b
	}
	st, b := signIn(apiPassword, "")
	a.want(st, 200, b, "joe's first sign-in")
	device, _ := b["device_token"].(string)
	if b["status"] != "signed_in" || device == "" {
		t.Fatalf("first sign-in: %v, want signed_in with a device_token", b)
	}
	_, ob, _ := a.call("POST", "/api/v1/sign-in", "", map[string]string{"email": "owner@example.com", "password": apiPassword})
	ownerDevice := ob["device_token"].(string)

	for i := 0; i < 10; i++ {
		if st, b := signIn("not the password", ""); st != 401 {
			t.Fatalf("stranger's wrong password %d: %d %v", i+1, st, b)
		}
	}
	end := a.clock.Now().Add(30 * time.Second).Format(time.RFC3339)

	_, locked := signIn(apiPassword, "")
	for name, token := range map[string]string{"unknown device token": "not-a-device-token", "another account's device": ownerDevice, "no device token": ""} {
		st, b := signIn(apiPassword, token)
		if st != 429 || b["code"] != "too_many_attempts" {
			t.Errorf("%s, right password: %d %v, want 429 too_many_attempts (RL-08)", name, st, b)
		}
		if diff := cmp.Diff(locked, b); diff != "" {
			t.Errorf("%s: answer differs from the one without a device token (-without +with):\n%s", name, diff)
		}
	}

	st, b = signIn(apiPassword, device)
	a.want(st, 200, b, "joe's known device while the e-mail is locked")
	if b["status"] != "signed_in" || b["device_token"] == nil || b["device_token"] == device {
		t.Errorf("known device: %v, want signed_in with a renewed device_token", b)
	}
	joeSession := b["session_token"].(string)

	lockedUntil := func() any {
		t.Helper()
		var members []map[string]any
		getJSON(t, a, "/api/v1/org/members", owner, &members)
		for _, m := range members {
			if m["id"] == joe.ID {
				return m["locked_until"]
			}
		}
		t.Fatal("joe is not in the members list")
		return nil
	}
	if got := lockedUntil(); got != end {
		t.Errorf("members list: joe's locked_until %v, want %s", got, end)
	}
	var events []map[string]any
	getJSON(t, a, "/api/v1/account/activity", joeSession, &events)
	found := false
	for _, e := range events {
		if d, _ := e["detail"].(map[string]any); e["type"] == "sign_in.locked" && d["until"] == end && d["key"] == "email" {
			found = true
		}
	}
	if !found {
		t.Errorf("joe's activity has no sign_in.locked until %s: %v", end, events)
	}

	st, b, _ = a.call("POST", "/api/v1/org/members/"+joe.ID+"/unlock", owner, nil)
	a.want(st, 204, b, "unlock")
	if got := lockedUntil(); got != nil {
		t.Errorf("members list after unlock: locked_until %v", got)
	}
	st, b = signIn(apiPassword, "")
	a.want(st, 200, b, "a new client after unlock")
}

// getJSON GETs path with token and decodes the JSON answer into v.
func getJSON(t *testing.T, a *api, path, token string, v any) {
	t.Helper()
	st, b, _ := a.call("GET", path, token, nil)
	if st != 200 {
		t.Fatalf("GET %s: %d %v", path, st, b)
	}
	raw, ok := b["_raw"].(string)
	if !ok {
		t.Fatalf("GET %s: not a JSON array: %v", path, b)
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		t.Fatal(err)
	}
}
