package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/twostep/twostep/internal/twostep"
)

// TestWrapUnreachable: a database that cannot be reached, or a connection that
// broke, is twostep.ErrUnavailable (a 503 the client may retry); a statement
// the database refused is not, and keeps its own meaning.
func TestWrapUnreachable(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{"broken connection", fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF), true},
		{"bad connection", driver.ErrBadConn, true},
		{"connection done", sql.ErrConnDone, true},
		{"no rows", sql.ErrNoRows, false},
		{"a refused statement", errors.New("syntax error at or near SELEC"), false},
	}
	for _, tc := range tests {
		err := wrap(tc.err, "account")
		if got := errors.Is(err, twostep.ErrUnavailable); got != tc.unavailable {
			t.Errorf("%s: %v is unavailable: %v, want %v", tc.name, err, got, tc.unavailable)
		}
		if tc.unavailable && !errors.Is(err, tc.err) {
			t.Errorf("%s: %v lost the driver's error", tc.name, err)
		}
	}
}
