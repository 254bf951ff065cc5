package store_test

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twostep/twostep/internal/store"
	"github.com/twostep/twostep/internal/twostep"
)

func newDevice(t testing.TB, db twostep.Store, id, accountID string, expires time.Time) *twostep.Device {
	t.Helper()
	d := &twostep.Device{ID: id, AccountID: accountID, TokenHash: []byte("token-" + id), CreatedAt: t0, LastUsedAt: t0,
		ExpiresAt: expires, IP: "192.0.2.1", UserAgent: "test"}
	ok(t, db.CreateDevice(t.Context(), d))
	return d
}

// testDevices: the device records behind RL-13 — found by token hash, renewed
// in one statement only while live and only for their own account, listed per
// account.
func testDevices(t *testing.T, db *store.DB) {
	ctx := t.Context()
	acc := newMember(t, db)
	bob := newAccount(t, db, acc.OrgID, "bob@example.com")
	d1 := newDevice(t, db, "d1", acc.ID, t0.Add(time.Hour))
	same(t, "DeviceByToken", d1, get[*twostep.Device](t)(db.DeviceByToken(ctx, []byte("token-d1"))))
	_, err := db.DeviceByToken(ctx, []byte("nope"))
	wantErr(t, "DeviceByToken of an unknown token", err, twostep.ErrNotFound)
	wantErr(t, "duplicate token", db.CreateDevice(ctx, &twostep.Device{ID: "d9", AccountID: acc.ID, TokenHash: []byte("token-d1")}),
		twostep.ErrConflict)

	renewal := func(accountID string, at time.Time) *twostep.Device {
		return &twostep.Device{AccountID: accountID, TokenHash: []byte("token-d1-renewed"), LastUsedAt: at,
			ExpiresAt: at.Add(90 * 24 * time.Hour), IP: "198.51.100.5", UserAgent: "renewed"}
	}
	same(t, "RenewDevice for another account", false, get[bool](t)(db.RenewDevice(ctx, []byte("token-d1"), renewal(bob.ID, t0))))
	same(t, "RenewDevice once expired", false, get[bool](t)(db.RenewDevice(ctx, []byte("token-d1"), renewal(acc.ID, t0.Add(time.Hour)))))
	same(t, "RenewDevice of an unknown token", false, get[bool](t)(db.RenewDevice(ctx, []byte("nope"), renewal(acc.ID, t0))))
	r := renewal(acc.ID, t0.Add(time.Minute))
	same(t, "RenewDevice", true, get[bool](t)(db.RenewDevice(ctx, []byte("token-d1"), r)))
	same(t, "renewed device's id and creation", [2]any{"d1", t0}, [2]any{r.ID, r.CreatedAt})
	same(t, "renewed device", r, get[*twostep.Device](t)(db.DeviceByToken(ctx, []byte("token-d1-renewed"))))
	_, err = db.DeviceByToken(ctx, []byte("token-d1"))
	wantErr(t, "the old token after renewal", err, twostep.ErrNotFound)
	same(t, "RenewDevice with the old token", false, get[bool](t)(db.RenewDevice(ctx, []byte("token-d1"), renewal(acc.ID, t0.Add(time.Minute)))))

	// Of parallel renewals of one token, one wins.
	newDevice(t, db, "d2", acc.ID, t0.Add(time.Hour))
	var next atomic.Int64
	results := race(t, 20, func() (bool, error) {
		d := &twostep.Device{AccountID: acc.ID, TokenHash: fmt.Appendf(nil, "token-d2-%d", next.Add(1)), LastUsedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		return db.RenewDevice(ctx, []byte("token-d2"), d)
	})
	same(t, "parallel renewals that won", 1, countTrue(results))

	newDevice(t, db, "d3", bob.ID, t0.Add(time.Hour))
	got := get[[]*twostep.Device](t)(db.Devices(ctx, acc.ID))
	var ids []string
	for _, d := range got {
		ids = append(ids, d.ID)
	}
	same(t, "Devices", []string{"d1", "d2"}, ids)
	same(t, "Devices of an account without any", []*twostep.Device(nil), get[[]*twostep.Device](t)(db.Devices(ctx, "nobody")))
}

func testThrottlesByKeys(t *testing.T, db *store.DB) {
	ctx := t.Context()
	a := twostep.Throttle{Key: "email:a@example.com", Failures: 10, HourStart: t0, HourFailures: 10, LockedUntil: t0.Add(time.Minute)}
	b := twostep.Throttle{Key: "device:d1", Failures: 2, HourStart: t0, HourFailures: 2}
	ok(t, db.PutThrottle(ctx, a))
	ok(t, db.PutThrottle(ctx, b))
	got := get[[]twostep.Throttle](t)(db.Throttles(ctx, []string{"device:d1", "account:nobody", "email:a@example.com"}))
	sameSorted(t, "Throttles", []twostep.Throttle{a, b}, got)
	same(t, "Throttles of no key", []twostep.Throttle(nil), get[[]twostep.Throttle](t)(db.Throttles(ctx, nil)))
	same(t, "Throttles of unknown keys", 0, len(get[[]twostep.Throttle](t)(db.Throttles(ctx, []string{"ip:x"}))))
}

func sameSorted(t testing.TB, what string, want, got []twostep.Throttle) {
	t.Helper()
	byKey := func(x, y twostep.Throttle) int { return strings.Compare(x.Key, y.Key) }
	slices.SortFunc(want, byKey)
	slices.SortFunc(got, byKey)
	same(t, what, want, got)
}
