package web_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/twostep/twostep/internal/twostep"
)

// TestAPIChangeEmailSameAnswer: PUT /api/v1/account/email answers the same
// bytes whether or not another account, in any organisation, has the address;
// the taken address gets a notice instead of a code (API.md §3.2, EN-01). It
// answered 409 for any registered address.
func TestAPIChangeEmailSameAnswer(t *testing.T) { // EN-01
	a := newAPI(t, false)
	ctx := context.Background()
	if _, _, _, err := a.svc.CreateOrg(ctx, twostep.NewOrg{Name: "Other", OwnerEmail: "dave@other.example", Password: apiPassword}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.svc.CreateAccount(ctx, twostep.NewAccount{Org: "cloud-legal", Email: "ann@example.com", Password: apiPassword}); err != nil {
		t.Fatal(err)
	}
	change := func(session, email string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("PUT", a.srv.URL+"/api/v1/account/email", strings.NewReader(`{"email":"`+email+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+session)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type") + "\n" + string(raw)
	}
	// Both addresses mask alike (d•••@other.example): only existence differs.
	takenStatus, taken := change(a.session("owner@example.com"), "dave@other.example")
	freeStatus, free := change(a.session("ann@example.com"), "dora@other.example")
	if takenStatus != 202 || freeStatus != 202 || taken != free {
		t.Errorf("taken address: %d %q\nfree address: %d %q\nwant the same 202", takenStatus, taken, freeStatus, free)
	}
	if notice := a.sent("email_taken"); notice == nil || notice["email"] != "dave@other.example" || notice["code"] != "" {
		t.Errorf("email_taken notice %v, want one to the taken address without a code", notice)
	}
}
