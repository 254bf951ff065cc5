package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostep/twostep/internal/twostep"
)

// TestDatabaseUnavailableLoggedOnce: an outage of the database fails every
// request; it is logged at the first failure, then at most once a minute with
// how many failures went unreported (issue 12, item 2).
func TestDatabaseUnavailableLoggedOnce(t *testing.T) {
	var b strings.Builder
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &Server{log: slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})), clock: func() time.Time { return now }, dbTimeout: 5 * time.Second, baseURL: &url.URL{}}
	deadline := fmt.Errorf("store: get account: %w: %w", twostep.ErrUnavailable, context.DeadlineExceeded)
	refused := fmt.Errorf("store: get account: %w: dial tcp: connection refused", twostep.ErrUnavailable)
	steps := []struct {
		after time.Duration
		err   error
	}{{0, deadline}, {10 * time.Second, deadline}, {59 * time.Second, refused}, {61 * time.Second, refused}, {62 * time.Second, deadline}}
	for _, st := range steps {
		now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(st.after)
		s.apiError(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/account", nil), st.err)
	}
	want := []string{
		`level=ERROR msg="the database did not answer in time" err="store: get account: twostep: unavailable: context deadline exceeded" timeout=5s method=GET path=/api/v1/account`,
		`level=ERROR msg="the database is unavailable" err="store: get account: twostep: unavailable: dial tcp: connection refused" method=GET path=/api/v1/account unreported_failures=2`,
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(b.String()), "\n")); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

// TestDeadlineIsUnavailable: a request past its database deadline answers 503
// unavailable with Retry-After, as an internal error does not need logging.
func TestDeadlineIsUnavailable(t *testing.T) {
	for _, err := range []error{context.DeadlineExceeded, fmt.Errorf("store: x: %w", context.DeadlineExceeded), twostep.ErrUnavailable} {
		f := describe(err)
		if f.Status != 503 || f.Code != "unavailable" || f.RetryAfter == 0 || f.ErrorID != "" {
			t.Errorf("describe(%v) = %+v; want 503 unavailable with retry_after, not internal", err, f)
		}
	}
}
