package twostep_test

import (
	"context"
	"errors"
	"testing"

	"github.com/twostep/twostep/internal/store/storetest"
	"github.com/twostep/twostep/internal/twostep"
)

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
	if !errors.As(err, &inv) || inv.Reason != "must not hold control characters (such as line breaks) or characters that change the text direction; it holds U+202E at character 6" {
		t.Errorf("the refusal does not say which character, and where: %v", err)
	}
	if _, _, _, err := f.svc.CreateOrg(ctx, twostep.NewOrg{Name: "Société Générale — 法務", OwnerEmail: "owner@example.com", Password: password}); err != nil {
		t.Errorf("an ordinary name in several scripts: %v", err)
	}
}
