package loadgen

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

type reportInput struct {
	url         string
	mode        string
	asked, conc int
	dur         time.Duration
	accounts    int
	setup       setupResult
	res         measured
	server      *serverUsage
	interrupted bool
	metrics     *serverTimes
}

// modeNames are the modes as the report names them.
var modeNames = map[string]string{
	ModeJourney:     "journey (sign-in + second step)",
	ModeVerify:      "verify (second step alone)",
	ModeForwardAuth: "forward-auth (a proxy asking about a signed-in session)",
	ModeOIDC:        "oidc (authorization code flow on a signed-in session: authorize + token)",
	ModeRefresh:     "refresh (refresh token exchanges)",
	ModeVerifyAPI:   "verify-api (Verify API: start a verification + check a code)",
}

// modeKinds are the request kinds each mode reports, then "journey" where a
// mode has journeys.
var modeKinds = map[string][]string{
	ModeJourney:     {"sign-in", "verify", "journey"},
	ModeVerify:      {"verify"},
	ModeForwardAuth: {"forward"},
	ModeOIDC:        {"authorize", "token", "journey"},
	ModeRefresh:     {"refresh"},
	ModeVerifyAPI:   {"send", "check", "journey"},
}

// success reports whether a status key ("verify 200") is an answer the mode wants.
func success(key string) bool {
	i := strings.LastIndexByte(key, ' ')
	if i < 0 {
		return false
	}
	code, err := strconv.Atoi(key[i+1:])
	return err == nil && code >= 200 && code < 300
}

func report(w io.Writer, in reportInput) {
	r := in.res
	secs := r.elapsed.Seconds()
	fmt.Fprintf(w, "mode:        %s against %s\n", modeNames[in.mode], in.url)
	conc := strconv.Itoa(in.conc)
	if in.conc < in.asked {
		conc += fmt.Sprintf(" (-c %d asked, but the file has %d accounts)", in.asked, in.accounts)
	}
	fmt.Fprintf(w, "concurrency: %s\n", conc)
	fmt.Fprintf(w, "duration:    %s asked, %.2f s measured\n", in.dur, secs)
	if in.mode == ModeVerify {
		fmt.Fprintf(w, "prepared:    %d verifications (sign-ins of %d accounts, up to 3 each) in %.1f s of unmeasured setup%s\n",
			in.setup.tokens, in.setup.accounts, in.setup.took.Seconds(), setupErrors(in.setup.errors))
	}
	requests := 0
	for k, v := range r.t.statuses {
		if !strings.HasSuffix(k, ": no answer") {
			requests += v
		}
	}
	fmt.Fprintf(w, "requests:    %d, %.1f requests/s\n", requests, float64(requests)/secs)
	kinds := modeKinds[in.mode]
	if kinds[len(kinds)-1] == "journey" {
		fmt.Fprintf(w, "journeys:    %d, %.1f journeys/s\n", r.t.journeys, float64(r.t.journeys)/secs)
	}
	fmt.Fprintf(w, "latency ms:  %-9s %8s %8s %8s %8s\n", "", "p50", "p95", "p99", "max")
	for _, k := range kinds {
		l := r.t.latency[k]
		if len(l) == 0 {
			fmt.Fprintf(w, "             %-9s %8s\n", k, "-")
			continue
		}
		slices.Sort(l)
		fmt.Fprintf(w, "             %-9s %8.2f %8.2f %8.2f %8.2f\n", k,
			ms(percentile(l, 50)), ms(percentile(l, 95)), ms(percentile(l, 99)), ms(l[len(l)-1]))
	}
	fmt.Fprintf(w, "statuses:    %s\n", describeCounts(r.t.statuses, "none"))
	errs := map[string]int{}
	for k, v := range r.t.statuses {
		if !success(k) && v > 0 {
			errs[k] = v
		}
	}
	line := describeCounts(errs, "none")
	if len(r.t.noRetry) > 0 {
		line += "; without Retry-After: " + describeCounts(r.t.noRetry, "")
	}
	if r.t.firstErr != "" {
		line += "; first transport error: " + r.t.firstErr
	}
	fmt.Fprintf(w, "errors:      %s\n", line)
	if r.t.waited > time.Second {
		fmt.Fprintf(w, "note:        workers waited %.1f s in all for an account with an unused time step: prepare more accounts\n", r.t.waited.Seconds())
	}
	if r.ranOut == r.workers {
		fmt.Fprintf(w, "note:        stopped early: the prepared verifications ran out after %.2f s; prepare more accounts for longer runs\n", r.lastOut.Seconds())
	} else if r.ranOut > 0 {
		fmt.Fprintf(w, "note:        %d of %d workers ran out of prepared verifications before the end\n", r.ranOut, r.workers)
	}
	if in.interrupted {
		fmt.Fprintln(w, "note:        interrupted: the figures cover the run until then")
	}
	if s := in.server; s != nil {
		fmt.Fprintf(w, "server:      pid %d: CPU %.2f s (user+sys; %.0f%% of one core); RSS %.1f MiB at the end, %.1f MiB at most during the run; peak since start (VmHWM) %.1f MiB\n",
			s.pid, s.cpu.Seconds(), 100*s.cpu.Seconds()/s.wall.Seconds(), mib(s.rssEnd), mib(s.rssMax), mib(s.hwm))
		if requests > 0 {
			fmt.Fprintf(w, "server CPU:  %.0f µs per request\n", float64(s.cpu.Microseconds())/float64(requests))
		}
	} else {
		fmt.Fprintln(w, "server:      not sampled (give --server-pid of a local server)")
	}
	if m := in.metrics; m != nil {
		slices.SortFunc(m.routes, func(a, b routeTime) int { return strings.Compare(a.route, b.route) })
		for _, rt := range m.routes {
			fmt.Fprintf(w, "server time: %s: %.0f µs a request on average, %.0f requests (its /metrics)\n", rt.route,
				float64(rt.mean.Nanoseconds())/1000, rt.n)
		}
		if m.trips > 0 && requests > 0 {
			fmt.Fprintf(w, "database:    %.0f PostgreSQL round trips, %.2f a request\n", m.trips, m.trips/float64(requests))
		}
	}
	if r.clientCPU > 0 {
		fmt.Fprintf(w, "client:      CPU %.2f s (user+sys; %.0f%% of one core) in this load generator\n", r.clientCPU.Seconds(), 100*r.clientCPU.Seconds()/secs)
	}
}

func setupErrors(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	return "; setup errors: " + describeCounts(m, "")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(kib int64) float64      { return float64(kib) / 1024 }

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

// describeCounts writes counts as "a: 1, b: 2" in key order, or none.
func describeCounts(m map[string]int, none string) string {
	var parts []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k, v := range m {
			if v != 0 && !yield(k) {
				return
			}
		}
	}) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	if len(parts) == 0 {
		return none
	}
	return strings.Join(parts, ", ")
}
