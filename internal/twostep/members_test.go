package twostep_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

// TestSetSSO: the operator moves an account to SSO and back (the way back for
// an owner who moved themselves and lost the organisation), never leaving the
// organisation without an owner who can sign in with a password (ORG-02's
// admins, who must be able to reach the administration).
func TestSetSSO(t *testing.T) { // ORG-02, ADM-01
	storetestBackends(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner := f.account("owner@example.com")
		session := f.signIn("owner@example.com").SessionToken

		if _, _, err := f.svc.SetSSO(ctx, "owner@example.com", true); !errors.Is(err, twostep.ErrLastOwner) {
			t.Fatalf("moving the only owner to SSO: %v, want ErrLastOwner", err)
		}
		if _, err := f.svc.Authenticate(ctx, session, "", ""); err != nil {
			t.Errorf("the refused move ended the owner's session: %v", err)
		}
		// An owner who has no password yet does not count either.
		if _, _, err := f.svc.CreateAccount(ctx, twostep.NewAccount{Org: f.org, Email: "invited@example.com", Role: twostep.RoleOwner}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.SetSSO(ctx, "owner@example.com", true); !errors.Is(err, twostep.ErrLastOwner) {
			t.Errorf("moving the only owner with a password to SSO: %v, want ErrLastOwner", err)
		}

		f.member("second@example.com", twostep.RoleOwner)
		a, token, err := f.svc.SetSSO(ctx, "Owner@Example.com", true)
		if err != nil || !a.SSO || token != "" {
			t.Fatalf("moving one of two owners to SSO: %v %v %q", a, err, token)
		}
		if _, err := f.svc.Authenticate(ctx, session, "", ""); !errors.Is(err, twostep.ErrUnauthenticated) {
			t.Errorf("session after the move to SSO: %v, want ErrUnauthenticated", err)
		}
		if _, err := f.svc.SignIn(ctx, twostep.SignInRequest{Email: "owner@example.com", Password: password}); !errors.Is(err, twostep.ErrSSOManaged) {
			t.Errorf("sign-in after the move to SSO: %v, want ErrSSOManaged", err)
		}
		if _, _, err := f.svc.SetSSO(ctx, "second@example.com", true); !errors.Is(err, twostep.ErrLastOwner) {
			t.Errorf("moving the last owner who signs in: %v, want ErrLastOwner", err)
		}

		// --off gives the password back; asking again changes nothing.
		if a, token, err := f.svc.SetSSO(ctx, "owner@example.com", false); err != nil || a.SSO || token != "" {
			t.Fatalf("taking the owner off SSO: %v %v %q", a, err, token)
		}
		if res := f.signIn("owner@example.com"); res.Status != twostep.StatusSignedIn {
			t.Errorf("sign-in after coming back: %s", res.Status)
		}
		if _, _, err := f.svc.SetSSO(ctx, "owner@example.com", false); err != nil {
			t.Errorf("taking off SSO an account that is not: %v", err)
		}
		var got []any
		for _, e := range f.events(owner.ID, "member.changed") {
			got = append(got, []any{e.ActorID, e.Detail["sso"]})
		}
		want := []any{ // newest first
			[]any{twostep.OperatorActor, map[string]any{"before": true, "after": false}},
			[]any{twostep.OperatorActor, map[string]any{"before": false, "after": true}},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("audit (-want +got):\n%s", diff)
		}

		// An SSO account never had a password: coming back needs a link.
		if _, _, err := f.svc.CreateAccount(ctx, twostep.NewAccount{Org: f.org, Email: "sso@example.com", SSO: true}); err != nil {
			t.Fatal(err)
		}
		_, token, err = f.svc.SetSSO(ctx, "sso@example.com", false)
		if err != nil || token == "" {
			t.Fatalf("taking off SSO an account without a password: %v, token %q", err, token)
		}
		if err := f.svc.SetPassword(ctx, token, "a good new password", nil); err != nil {
			t.Errorf("the set-password link: %v", err)
		}

		var inv *twostep.InvalidError
		if _, _, err := f.svc.SetSSO(ctx, "ghost@example.com", false); !errors.As(err, &inv) || inv.Field != "email" {
			t.Errorf("an unknown e-mail: %v", err)
		}
	})
}

// events returns the audit events of type typ about the account, newest first.
func (f *fixture) events(accountID, typ string) []*twostep.AuditEvent {
	f.t.Helper()
	evs, err := f.db.Events(context.Background(), twostep.EventFilter{AccountID: accountID, Type: twostep.EventType(typ), Limit: 50})
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

// TestOrgNameText: an organisation's name is free text and goes through the
// same refusal of control and text-direction characters as every other
// (AU-04), before anything is written.
func TestOrgNameText(t *testing.T) { // AU-04
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	ctx := context.Background()
	for _, name := range []string{"Cloud\u202ELegal", "Cloud\r\nLegal", "Cloud\x00", "\u2067Cloud Legal\u2069"} {
		_, _, _, err := f.svc.CreateOrg(ctx, twostep.NewOrg{Name: name, Slug: "cloud-legal", OwnerEmail: "owner@example.com", Password: password})
		var inv *twostep.InvalidError
		if !errors.As(err, &inv) || inv.Field != "name" {
			t.Errorf("name %q: %v, want an invalid name", name, err)
		}
	}
	if ok, err := f.svc.HasOrg(ctx); ok || err != nil {
		t.Errorf("a refused organisation was created (%v)", err)
	}
	var inv *twostep.InvalidError
	_, _, _, err := f.svc.CreateOrg(ctx, twostep.NewOrg{Name: "Cloud\u202ELegal", OwnerEmail: "owner@example.com"})
	want := &twostep.InvalidError{Field: "name", Code: twostep.ReasonTextChars, Args: map[string]string{"Char": "U+202E", "Position": "6"}}
	if !errors.As(err, &inv) || !cmp.Equal(inv, want) {
		t.Errorf("the refusal does not say which character, and where: %v", err)
	}
	if _, _, _, err := f.svc.CreateOrg(ctx, twostep.NewOrg{Name: "Société Générale — 法務", OwnerEmail: "owner@example.com", Password: password}); err != nil {
		t.Errorf("an ordinary name in several scripts: %v", err)
	}
}

// TestOrgNameJapanese: a name without a Latin letter or digit (カーボン会計)
// makes an organisation too, its slug taken from its id; one asked for
// explicitly must still be a valid slug.
func TestOrgNameJapanese(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), twostep.Limits{})
	ctx := context.Background()
	org, _, _, err := f.svc.CreateOrg(ctx, twostep.NewOrg{Name: "カーボン会計", OwnerEmail: "owner@example.com", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^org-[2-7a-z]{8}$`).MatchString(org.Slug) || !strings.HasSuffix(org.ID, org.Slug[4:]) {
		t.Errorf("slug %q for %s", org.Slug, org.ID)
	}
	other, _, _, err := f.svc.CreateOrg(ctx, twostep.NewOrg{Name: "法務部", OwnerEmail: "boss@example.com", Password: password})
	if err != nil || other.Slug == org.Slug {
		t.Errorf("a second such organisation: %v, slug %q", err, other.Slug)
	}
	_, _, _, err = f.svc.CreateOrg(ctx, twostep.NewOrg{Name: "総務部", Slug: "総務", OwnerEmail: "chief@example.com", Password: password})
	var inv *twostep.InvalidError
	if !errors.As(err, &inv) || inv.Field != "slug" {
		t.Errorf("an explicit slug with no ASCII: %v", err)
	}
}
