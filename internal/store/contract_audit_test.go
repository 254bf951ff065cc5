package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/twostep"
)

func testEvents(t *testing.T, db *store.DB) {
	ctx := t.Context()
	events := []*twostep.AuditEvent{
		{At: t0, Type: "sign_in", OrgID: "o1", AccountID: "a1", ActorID: "a1", IP: "192.0.2.1", UserAgent: "ua",
			Detail: map[string]any{"method": "totp", "count": 2.0, "nested": map[string]any{"ok": true}}},
		{At: t0, Type: "sign_in", OrgID: "o1", AccountID: "a2"},
		{At: t0, Type: "policy", OrgID: "o1", ActorID: "a1"},
		{At: t0, Type: "sign_in", OrgID: "o2", AccountID: "a3"},
		{At: t0, Type: "reset", OrgID: "o1", AccountID: "a2", ActorID: "a1"},
	}
	for i, e := range events {
		ok(t, db.AppendEvent(ctx, e))
		if i > 0 && e.ID <= events[i-1].ID {
			t.Fatalf("event ids %d then %d, want growing", events[i-1].ID, e.ID)
		}
	}
	pick := func(is ...int) []*twostep.AuditEvent { // newest first
		var es []*twostep.AuditEvent
		for _, i := range is {
			es = append(es, events[i])
		}
		return es
	}
	tests := []struct {
		name string
		f    twostep.EventFilter
		want []*twostep.AuditEvent
	}{
		{"all", twostep.EventFilter{}, pick(4, 3, 2, 1, 0)},
		{"org", twostep.EventFilter{OrgID: "o1"}, pick(4, 2, 1, 0)},
		{"account", twostep.EventFilter{AccountID: "a2"}, pick(4, 1)},
		{"type", twostep.EventFilter{Type: "sign_in"}, pick(3, 1, 0)},
		{"org and type", twostep.EventFilter{OrgID: "o1", Type: "sign_in"}, pick(1, 0)},
		{"limit", twostep.EventFilter{Limit: 2}, pick(4, 3)},
		{"next page", twostep.EventFilter{Before: events[3].ID, Limit: 2}, pick(2, 1)},
		{"last page", twostep.EventFilter{Before: events[1].ID, Limit: 2}, pick(0)},
		{"org page", twostep.EventFilter{OrgID: "o1", Before: events[4].ID, Limit: 2}, pick(2, 1)},
		{"none", twostep.EventFilter{OrgID: "o3"}, nil},
	}
	for _, tt := range tests {
		same(t, "Events "+tt.name, tt.want, get[[]*twostep.AuditEvent](t)(db.Events(ctx, tt.f)))
	}

	// AU-04: the database itself refuses to change or remove an event.
	for _, q := range []string{
		"UPDATE audit_events SET type = 'forged'",
		"UPDATE audit_events SET detail = NULL WHERE account_id = 'a1'",
		"DELETE FROM audit_events WHERE account_id = 'a2'",
		"DELETE FROM audit_events",
	} {
		if err := db.ExecForTest(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused as append-only", q, err)
		}
	}
	same(t, "Events after the refused changes", pick(4, 3, 2, 1, 0), get[[]*twostep.AuditEvent](t)(db.Events(ctx, twostep.EventFilter{})))

	ok(t, db.Atomic(ctx, func(ctx context.Context, s twostep.Store) error {
		for range 250 {
			ok(t, s.AppendEvent(ctx, &twostep.AuditEvent{At: t0, Type: "bulk"}))
		}
		return nil
	}))
	for _, tt := range []struct{ limit, want int }{{0, 50}, {-1, 50}, {10, 10}, {200, 200}, {1000, 200}} {
		got := get[[]*twostep.AuditEvent](t)(db.Events(ctx, twostep.EventFilter{Type: "bulk", Limit: tt.limit}))
		if len(got) != tt.want {
			t.Errorf("Events with limit %d: %d events, want %d", tt.limit, len(got), tt.want)
		}
	}
}
