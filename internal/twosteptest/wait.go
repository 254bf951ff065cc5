package twosteptest

import (
	"testing"
	"time"
)

// WaitFor polls cond every 20 ms until it reports true, for at most timeout,
// and fails t with "gave up waiting for " + what otherwise. Use it instead of
// sleeping for what another process or goroutine does: it waits no longer
// than needed, and a failure says what did not happen.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %v", what, timeout)
		}
	}
}
