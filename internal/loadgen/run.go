package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// Modes of Run.
const (
	ModeJourney = "journey" // sign-in then second step, each journey measured
	ModeVerify  = "verify"  // the second step alone, sign-ins made in an unmeasured setup
)

// MaxVerifyDuration bounds a verify run: each account can be verified at three
// time steps at most, and the prepared sign-ins are spent within the window.
const MaxVerifyDuration = 20 * time.Second

// maxVerifyRate is the most verifications a second the setup prepares for.
const maxVerifyRate = 20000

// Options is what Run does. The caller checks them (`twostep bench run`'s
// flags): URL is an http or https URL, Mode one of the modes, Concurrency 1
// or more, Duration positive and at most MaxVerifyDuration in verify mode,
// ServerPID 0 or more.
type Options struct {
	URL         *url.URL      // the server's base URL
	CSV         string        // the accounts file (WriteAccounts' format)
	Mode        string        // ModeJourney or ModeVerify
	Concurrency int           // requests in flight; at most one per account
	Duration    time.Duration // how long to measure
	ServerPID   int           // a local server to sample; 0: found by port for a loopback URL
	UserAgent   string
	OIDC        OIDC   // ModeOIDC and ModeRefresh: the client to act as
	APIKey      APIKey // ModeVerifyAPI: the organisation's key
	// MetricsURL is the server's /metrics, read before and after measuring for
	// its own time per request; "" tries URL + "/metrics".
	MetricsURL string
}

// Run drives the server with the accounts of o.CSV and writes the report to
// stdout, progress to stderr. It keeps the last time step used per account
// next to the accounts file (StepsFile), so that a run soon after another
// sends no code the server must refuse as a replay. Errors name the flag of
// `twostep bench run` they come from (--csv, --url, --server-pid). An
// interrupted run (ctx done while measuring) still reports what it measured.
func Run(ctx context.Context, o Options, stdout, stderr io.Writer) error {
	if o.ServerPID > 0 {
		if _, err := readCPU(o.ServerPID); err != nil {
			return fmt.Errorf("--server-pid=%d: cannot read its CPU time: %v", o.ServerPID, err)
		}
	}
	accts, err := readAccounts(o.CSV)
	if err != nil {
		return err
	}
	stepsPath := StepsFile(o.CSV)
	loadSteps(stepsPath, accts)

	u := o.URL
	b := newBench(strings.TrimSuffix(u.String(), "/"), o.Concurrency, accts, o.UserAgent)
	if err := b.reachable(ctx, 5*time.Second); err != nil {
		return fmt.Errorf("--url %s: cannot reach the server: %v", u.Redacted(), err)
	}
	serverPID := o.ServerPID
	if serverPID == 0 {
		serverPID = findServerPID(u)
	}

	var setup setupResult
	switch o.Mode {
	case ModeVerify:
		setup = b.setup(ctx, o.Duration, stderr)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if setup.tokens == 0 {
			return fmt.Errorf("verify setup made no sign-in tokens (%s)", describeCounts(setup.errors, "none"))
		}
	case ModeForwardAuth:
		fmt.Fprintf(stderr, "bench run: setup: signing accounts in through the pages for their forward-auth cookies (not measured)…\n")
		start := time.Now()
		tokens, errs, err := b.setupForward(ctx, 16)
		setup = setupResult{took: time.Since(start), errors: errs}
		if err != nil {
			saveSteps(stepsPath, accts)
			return fmt.Errorf("forward-auth setup: %w", err)
		}
		for w, ts := range tokens {
			setup.tokens += len(ts)
			b.steps = append(b.steps, b.forwardStep(tokens[w]))
		}
	case ModeOIDC, ModeRefresh:
		if o.OIDC.ClientID == "" || o.OIDC.RedirectURI == "" {
			return errors.New("--client-id and --redirect-uri are needed in oidc and refresh modes")
		}
		fmt.Fprintf(stderr, "bench run: setup: one sign-in per worker through the pages (not measured)…\n")
		start := time.Now()
		ws, err := b.setupOIDC(ctx, o.OIDC)
		setup = setupResult{took: time.Since(start), tokens: len(ws), errors: map[string]int{}}
		saveSteps(stepsPath, accts)
		if err != nil {
			return fmt.Errorf("%s setup: %w", o.Mode, err)
		}
		for _, w := range ws {
			if o.Mode == ModeOIDC {
				b.steps = append(b.steps, w.oidcStep)
			} else {
				b.steps = append(b.steps, w.refreshStep)
			}
		}
	case ModeVerifyAPI:
		if o.APIKey.ID == "" {
			return errors.New("--api-key is needed in verify-api mode")
		}
		service, err := b.setupVerifyAPI(ctx, o.APIKey)
		if err != nil {
			return err
		}
		for w := range b.conc {
			b.steps = append(b.steps, b.verifyAPIStep(o.APIKey, service, w))
		}
	}
	metricsURL := o.MetricsURL
	if metricsURL == "" {
		metricsURL = strings.TrimSuffix(u.String(), "/") + "/metrics"
	}
	before := scrape(ctx, b.client, metricsURL)

	var sampler *procSampler
	if serverPID > 0 {
		sampler = startSampler(serverPID)
	}
	selfCPU, _ := readCPU(os.Getpid())
	fmt.Fprintf(stderr, "bench run: measuring %s mode for %s with %d in flight…\n", o.Mode, o.Duration, b.conc)
	res := b.measure(ctx, o.Mode, o.Duration)
	if cpu, err := readCPU(os.Getpid()); err == nil {
		res.clientCPU = cpu - selfCPU
	}
	var server *serverUsage
	if sampler != nil {
		server = sampler.stop()
	}
	after := scrape(ctx, b.client, metricsURL)
	if err := saveSteps(stepsPath, accts); err != nil {
		fmt.Fprintf(stderr, "bench run: could not record the time steps used in %s (%v): a run within 90 s may send replayed codes\n", stepsPath, err)
	}
	report(stdout, reportInput{url: u.Redacted(), mode: o.Mode, asked: o.Concurrency, conc: b.conc, dur: o.Duration, accounts: len(accts),
		setup: setup, res: res, server: server, interrupted: ctx.Err() != nil, metrics: after.since(before)})
	return nil
}

func mustURL(s string) *url.URL {
	u, _ := url.Parse(s)
	if u == nil {
		return &url.URL{}
	}
	return u
}

// bench drives one server with a set of accounts.
type bench struct {
	base   string
	client *http.Client
	conc   int
	parts  [][]*benchAccount // accounts of each worker: no two workers share one
	ua     string
	steps  []stepFunc // each worker's step in the modes of modes.go
}

func newBench(base string, conc int, accts []*benchAccount, ua string) *bench {
	conc = min(conc, len(accts))
	// Every connection goes to base's address, whatever host a request names:
	// the pages redirect to the server's base URL, whose name need not
	// resolve here (curl's --connect-to).
	addr := mustURL(base).Host
	if mustURL(base).Port() == "" {
		addr = net.JoinHostPort(mustURL(base).Hostname(), map[string]string{"http": "80", "https": "443"}[mustURL(base).Scheme])
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        conc,
		MaxIdleConnsPerHost: conc,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableCompression:  true,
	}
	b := &bench{base: base, client: &http.Client{Transport: tr, Timeout: 60 * time.Second}, conc: conc,
		parts: make([][]*benchAccount, conc), ua: ua}
	for i, a := range accts {
		b.parts[i%conc] = append(b.parts[i%conc], a)
	}
	return b
}

// reachable fails when nothing answers at the URL (any HTTP answer will do)
// within upTo, so that a script may start the server and the load generator
// one after the other.
func (b *bench) reachable(ctx context.Context, upTo time.Duration) error {
	deadline := time.Now().Add(upTo)
	for {
		err := b.ping(ctx)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		sleep(ctx, 100*time.Millisecond, deadline)
	}
}

func (b *bench) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := b.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err
		}
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil
}

// answer is what a request got: a status (0 for no answer) and, for 429 and
// 503, the Retry-After it carried.
type answer struct {
	status     int
	retryAfter time.Duration
	hasRetry   bool
	err        error
	body       []byte
	location   string // of a redirect not followed
}

// post sends a JSON body and reads the whole answer (so the connection is kept
// alive). keep says whether the body is wanted.
func (b *bench) post(ctx context.Context, path string, body any, keep bool) answer {
	buf, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+path, bytes.NewReader(buf))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", b.ua)
	resp, err := b.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL alone says nothing new; a body never shows here
		}
		return answer{err: err}
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode}
	if keep && resp.StatusCode == http.StatusOK {
		a.body, a.err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	} else {
		_, a.err = io.Copy(io.Discard, resp.Body)
	}
	if a.err != nil {
		return answer{err: a.err}
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if n, err := strconv.Atoi(ra); err == nil && n >= 0 {
			a.retryAfter, a.hasRetry = time.Duration(n)*time.Second, true
		}
	}
	return a
}

// tally is what one worker saw; workers merge theirs at the end.
type tally struct {
	latency  map[string][]time.Duration // by request kind, and "journey"
	statuses map[string]int             // "sign-in 200", "verify 400", "sign-in: no answer"
	noRetry  map[string]int             // 429 and 503 answers without Retry-After
	firstErr string                     // the first transport error
	journeys int
	waited   time.Duration // spent waiting for an account with an unused time step
	ranOut   bool          // verify mode: this worker's prepared sign-ins ran out
	ranOutAt time.Duration // … this long into the run
}

func newTally() *tally {
	return &tally{latency: map[string][]time.Duration{}, statuses: map[string]int{}, noRetry: map[string]int{}}
}

// record counts one request of kind that took d and got a; it returns how long
// the worker should pause before its next request (Retry-After, or a moment
// after a transport error, so that a dead server is not spun on).
func (t *tally) record(ctx context.Context, kind string, d time.Duration, a answer) time.Duration {
	if a.err != nil {
		if ctx.Err() != nil {
			return 0 // the run was interrupted: not the server's fault
		}
		t.statuses[kind+": no answer"]++
		if t.firstErr == "" {
			t.firstErr = kind + ": " + a.err.Error()
		}
		return 100 * time.Millisecond
	}
	t.latency[kind] = append(t.latency[kind], d)
	t.statuses[fmt.Sprintf("%s %d", kind, a.status)]++
	if a.status == http.StatusTooManyRequests || a.status == http.StatusServiceUnavailable {
		if !a.hasRetry {
			t.noRetry[fmt.Sprintf("%s %d", kind, a.status)]++
			return time.Second
		}
		return a.retryAfter
	}
	return 0
}

// pick returns the worker's next account (round robin from *next) that can be
// given a code now, and in verify mode has a sign-in token left. With none, it
// says how long until one might be (or, in verify mode, that all are spent).
func pick(part []*benchAccount, next *int, now time.Time, needToken bool) (*benchAccount, time.Duration, bool) {
	spent := true
	for i := range part {
		k := (*next + i) % len(part)
		a := part[k]
		if needToken && len(a.tokens) == 0 {
			continue
		}
		spent = false
		if _, ok := nextStep(a.last, now); ok {
			*next = k + 1
			return a, 0, false
		}
	}
	return nil, untilNextStep(now), needToken && spent
}

// sleep waits d or until the deadline or ctx ends; it returns how long it waited.
func sleep(ctx context.Context, d time.Duration, deadline time.Time) time.Duration {
	d = min(d, time.Until(deadline))
	if d <= 0 {
		return 0
	}
	start := time.Now()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return time.Since(start)
}

type signInAnswer struct {
	Status      string `json:"status"`
	SignInToken string `json:"sign_in_token"`
}

// signIn posts the password of a and returns the sign-in token of a
// second_step answer ("" otherwise, counted).
func (b *bench) signIn(ctx context.Context, t *tally, a *benchAccount, deadline time.Time) string {
	start := time.Now()
	ans := b.post(ctx, "/api/v1/sign-in", map[string]string{"email": a.email, "password": a.password}, true)
	if pause := t.record(ctx, "sign-in", time.Since(start), ans); pause > 0 {
		sleep(ctx, pause, deadline)
		return ""
	}
	if ans.err != nil || ans.status != http.StatusOK {
		return ""
	}
	var body signInAnswer
	if err := json.Unmarshal(ans.body, &body); err != nil || body.Status != "second_step" || body.SignInToken == "" {
		// Counted apart from the 200s: not what a load-test account answers.
		t.statuses["sign-in 200"]--
		st := body.Status
		if st == "" {
			st = "unreadable"
		}
		t.statuses["sign-in 200 "+st]++
		return ""
	}
	return body.SignInToken
}

// verify sends the code of the next usable time step of a with token; it
// reports whether the server signed the account in.
func (b *bench) verify(ctx context.Context, t *tally, a *benchAccount, token string, deadline time.Time) bool {
	step, _ := nextStep(a.last, time.Now()) // usable: checked when a was picked, and the window only moves on
	a.last = step                           // spent once sent, whatever comes back
	start := time.Now()
	ans := b.post(ctx, "/api/v1/sign-in/verify", map[string]string{"sign_in_token": token, "method": "totp",
		"code": twostep.TOTPCode(a.secret, step)}, false)
	if pause := t.record(ctx, "verify", time.Since(start), ans); pause > 0 {
		sleep(ctx, pause, deadline)
	}
	return ans.err == nil && ans.status == http.StatusOK
}

type setupResult struct {
	tokens   int
	accounts int
	took     time.Duration
	errors   map[string]int
}

// setup signs accounts in (not measured) so that the measured phase can verify
// each at up to three time steps: one sign-in token per step it may use.
func (b *bench) setup(ctx context.Context, dur time.Duration, stderr io.Writer) setupResult {
	budget := int(math.Ceil(dur.Seconds() * maxVerifyRate))
	now := twostep.TOTPStep(time.Now())
	want := make(map[*benchAccount]int)
	total := 0
	for i := 0; total < budget; i++ { // accounts in round robin over the workers
		w, k := i%b.conc, i/b.conc
		if k >= len(b.parts[0]) {
			break
		}
		if k >= len(b.parts[w]) {
			continue
		}
		a := b.parts[w][k]
		// Steps the run may use: from the oldest the server takes to one ahead.
		n := int(min(3, max(0, now+2-a.last)))
		n = min(n, budget-total)
		want[a] = n
		total += n
	}
	fmt.Fprintf(stderr, "bench run: setup: %d sign-ins for %d accounts (not measured)…\n", total, len(want))
	start := time.Now()
	tallies := make([]*tally, b.conc)
	var wg sync.WaitGroup
	for w := range b.conc {
		tallies[w] = newTally()
		wg.Go(func() {
			t := tallies[w]
			far := time.Now().Add(time.Hour)
			for _, a := range b.parts[w] {
				for tries := 0; len(a.tokens) < want[a] && tries < want[a]+3 && ctx.Err() == nil; tries++ {
					if tok := b.signIn(ctx, t, a, far); tok != "" {
						a.tokens = append(a.tokens, tok)
					}
				}
			}
		})
	}
	wg.Wait()
	r := setupResult{took: time.Since(start), errors: map[string]int{}}
	for _, t := range tallies {
		for k, v := range t.statuses {
			if k != "sign-in 200" && v > 0 {
				r.errors[k] += v
			}
		}
	}
	for _, part := range b.parts {
		for _, a := range part {
			r.tokens += len(a.tokens)
			if len(a.tokens) > 0 {
				r.accounts++
			}
		}
	}
	return r
}

type measured struct {
	elapsed time.Duration
	t       *tally // merged
	workers int
	ranOut  int           // workers whose prepared sign-ins ran out before the end
	lastOut time.Duration // when the last of them ran out
	// clientCPU is what this process used meanwhile: on a machine shared with
	// the server, that much was not the server's.
	clientCPU time.Duration
}

// measure runs the workers for dur and merges what they saw.
func (b *bench) measure(ctx context.Context, mode string, dur time.Duration) measured {
	tallies := make([]*tally, b.conc)
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for w := range b.conc {
		tallies[w] = newTally()
		wg.Go(func() {
			t, part, next := tallies[w], b.parts[w], 0
			if w < len(b.steps) {
				for ctx.Err() == nil && time.Now().Before(deadline) && b.steps[w](ctx, t, deadline) {
				}
				return
			}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				a, wait, spent := pick(part, &next, time.Now(), mode == ModeVerify)
				if spent {
					t.ranOut, t.ranOutAt = true, time.Since(start)
					return
				}
				if a == nil {
					t.waited += sleep(ctx, wait, deadline)
					continue
				}
				if mode == ModeVerify {
					tok := a.tokens[0]
					a.tokens = a.tokens[1:]
					b.verify(ctx, t, a, tok, deadline)
					continue
				}
				js := time.Now()
				tok := b.signIn(ctx, t, a, deadline)
				if tok == "" {
					continue
				}
				if b.verify(ctx, t, a, tok, deadline) {
					t.journeys++
					t.latency["journey"] = append(t.latency["journey"], time.Since(js))
				}
			}
		})
	}
	wg.Wait()
	m := measured{elapsed: time.Since(start), t: newTally(), workers: b.conc}
	for _, t := range tallies {
		for k, v := range t.latency {
			m.t.latency[k] = append(m.t.latency[k], v...)
		}
		for k, v := range t.statuses {
			m.t.statuses[k] += v
		}
		for k, v := range t.noRetry {
			m.t.noRetry[k] += v
		}
		if m.t.firstErr == "" {
			m.t.firstErr = t.firstErr
		}
		m.t.journeys += t.journeys
		m.t.waited += t.waited
		if t.ranOut {
			m.ranOut++
			m.lastOut = max(m.lastOut, t.ranOutAt)
		}
	}
	return m
}
