package web

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// DefaultDatabaseTimeout is Options.DatabaseTimeout when it is zero.
const DefaultDatabaseTimeout = 5 * time.Second

// readyTimeout bounds the database ping of /readyz: a load balancer wants its
// answer quickly, and a database that takes longer than this to answer SELECT 1
// is not one to send traffic to.
const readyTimeout = time.Second

// unavailableEvery is how often, at most, an outage of the database is logged.
const unavailableEvery = time.Minute

// withDatabaseDeadline gives every request a deadline for its database work
// (issue 12, item 2): a database that stops answering (packets dropped, not
// refused) would otherwise hold each request until the kernel gives up on the
// connection, minutes later. Past it, the store answers twostep.ErrUnavailable:
// 503 unavailable with Retry-After.
func (s *Server) withDatabaseDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.dbTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// outageLog reports that the database did not answer: at the first failure,
// then at most once every unavailableEvery while failures go on, with how many
// it did not report in between. An outage fails every request; a record for
// each would bury everything else in the log.
type outageLog struct {
	mu         sync.Mutex
	next       time.Time // when the next failure is reported
	unreported int
}

// unavailable logs err, a database failure, unless one was logged within the
// last unavailableEvery. r is nil where the request is not at hand.
func (s *Server) unavailable(r *http.Request, err error) {
	o := &s.outage
	now := s.clock()
	o.mu.Lock()
	if now.Before(o.next) {
		o.unreported++
		o.mu.Unlock()
		return
	}
	o.next = now.Add(unavailableEvery)
	unreported := o.unreported
	o.unreported = 0
	o.mu.Unlock()

	msg := "the database is unavailable"
	attrs := []any{"err", err}
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "the database did not answer in time"
		attrs = append(attrs, "timeout", s.dbTimeout)
	}
	if r != nil {
		attrs = append(attrs, "method", r.Method, "path", r.URL.Path)
	}
	if unreported > 0 {
		attrs = append(attrs, "unreported_failures", unreported)
	}
	s.log.Error(msg, attrs...)
}

// isUnavailable reports whether err says that the database did not answer.
func isUnavailable(err error) bool {
	return errors.Is(err, twostep.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}
