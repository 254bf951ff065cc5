package twostep_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/twostep"
)

// TestEventDetailsRoundTrip: every event type has a detail type that names it,
// and a stored detail decodes back into it; an unknown type is an error, not a
// silent "other" (AU-01).
func TestEventDetailsRoundTrip(t *testing.T) { // AU-01
	for _, typ := range twostep.EventTypes() {
		d, ok := twostep.NewEventDetail(typ)
		if !ok || d.EventType() != typ {
			t.Errorf("%s: detail %T names %v", typ, d, d)
		}
	}
	e := &twostep.AuditEvent{Type: twostep.EventMemberChanged, Detail: map[string]any{
		"role": map[string]any{"before": "member", "after": "admin"}, "sso": map[string]any{"before": false, "after": false}}}
	got, err := twostep.DetailOf(e)
	want := &twostep.MemberChanged{Role: twostep.Change[twostep.Role]{Before: twostep.RoleMember, After: twostep.RoleAdmin}}
	if err != nil || !cmp.Equal(got, want) {
		t.Errorf("DetailOf: %#v %v, want %#v", got, err, want)
	}
	if _, err := twostep.DetailOf(&twostep.AuditEvent{Type: "sign_in.succeded"}); err == nil {
		t.Error("DetailOf of an unknown type: no error")
	}
}
