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
}

func report(w io.Writer, in reportInput) {
	r := in.res
	secs := r.elapsed.Seconds()
	what := "journey (sign-in + second step)"
	if in.mode == ModeVerify {
		what = "verify (second step alone)"
	}
	fmt.Fprintf(w, "mode:        %s against %s\n", what, in.url)
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
	if in.mode == ModeJourney {
		fmt.Fprintf(w, "journeys:    %d, %.1f journeys/s\n", r.t.journeys, float64(r.t.journeys)/secs)
	}
	fmt.Fprintf(w, "latency ms:  %-9s %8s %8s %8s %8s\n", "", "p50", "p95", "p99", "max")
	kinds := []string{"verify"}
	if in.mode == ModeJourney {
		kinds = []string{"sign-in", "verify", "journey"}
	}
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
		if !strings.HasSuffix(k, " 200") && v > 0 {
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
	} else {
		fmt.Fprintln(w, "server:      not sampled (give --server-pid of a local server)")
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
