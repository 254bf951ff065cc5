package twostep_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/twostep"
)

// TestOIDCSidSurvivesConfirmIdentity: confirming one's identity renews the
// session's token but not its sid, so a product signed in through the session
// before the confirmation still gets its back-channel logout with the sid of
// its ID token when the session ends, and its tokens are revoked (OP-06, OP-03).
func TestOIDCSidSurvivesConfirmIdentity(t *testing.T) {
	f, _ := oidcFixture(t)
	ctx := context.Background()
	cl, _, err := f.svc.CreateOIDCClient(ctx, nil, twostep.NewOIDCClient{Name: "Wiki", RedirectURIs: []string{"https://wiki.example/cb"},
		BackchannelLogoutURI: "https://wiki.example/logout"})
	if err != nil {
		t.Fatal(err)
	}
	res := f.signIn("owner@example.com")
	sid := res.Session.ID
	signIn := func(token, code string) (*twostep.AuthRequest, string) {
		t.Helper()
		r, err := f.svc.CreateAuthRequest(ctx, twostep.NewAuthRequest{ClientID: cl.ID, RedirectURI: "https://wiki.example/cb",
			ResponseType: "code", Scopes: []string{"openid", "offline_access"}})
		if err != nil {
			t.Fatal(err)
		}
		if step, err := f.svc.ResumeAuthRequest(ctx, r.ID, token, "192.0.2.1", "test"); err != nil || !step.Callback {
			t.Fatalf("the live session did not complete the request: %+v %v", step, err)
		}
		if err := f.svc.SaveAuthCode(ctx, r.ID, code); err != nil {
			t.Fatal(err)
		}
		got, err := f.svc.ExchangeCode(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		access, _, _, err := f.svc.IssueCodeTokens(ctx, got, true)
		if err != nil {
			t.Fatal(err)
		}
		return got, access
	}
	before, access := signIn(res.SessionToken, "code-1")
	if before.SessionID != sid {
		t.Fatalf("sid %q, want the session's %q", before.SessionID, sid)
	}
	f.outbox()

	token, sess, err := f.svc.ConfirmIdentity(ctx, f.caller(res.SessionToken), twostep.ConfirmRequest{Password: password})
	if err != nil {
		t.Fatal(err)
	}
	if token == res.SessionToken {
		t.Error("confirming the identity kept the session token")
	}
	if _, err := f.svc.Authenticate(ctx, res.SessionToken, "192.0.2.1", "test"); !errors.Is(err, twostep.ErrUnauthenticated) {
		t.Errorf("the token before the confirmation still opens the session: %v", err)
	}
	if sess.ID != sid {
		t.Errorf("the confirmed session's sid %q, want %q", sess.ID, sid)
	}
	if after, _ := signIn(token, "code-2"); after.SessionID != sid {
		t.Errorf("a sign-in after the confirmation carries sid %q, want %q", after.SessionID, sid)
	}

	if err := f.svc.SignOut(ctx, f.caller(token)); err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, m := range f.outbox() {
		if m.Channel != twostep.ChannelBackchannel {
			continue
		}
		var c struct{ Aud, Sid string }
		if err := json.Unmarshal([]byte(m.Data["claims"]), &c); err != nil {
			t.Fatal(err)
		}
		if m.To != cl.BackchannelLogoutURI || c.Aud != cl.ID {
			t.Errorf("a back-channel logout to %s for %s", m.To, c.Aud)
		}
		sids = append(sids, c.Sid)
	}
	if diff := cmp.Diff([]string{sid}, sids); diff != "" {
		t.Errorf("back-channel logouts' sid after sign-out (-want +got):\n%s", diff)
	}
	if _, _, err := f.svc.AccessToken(ctx, access); !errors.Is(err, twostep.ErrExpired) {
		t.Errorf("the access token from before the confirmation survived the sign-out: %v", err)
	}
}
