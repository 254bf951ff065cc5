package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base32"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// The load generator (API.md §1): `bench prepare` writes load-test accounts
// straight into the database and their credentials to a CSV file; `bench run`
// drives a running server with them and reports throughput, latency, errors
// and, for a local server, its CPU time and memory.

// cmdBench runs the load generator's subcommands.
func cmdBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"bench needs the subcommand prepare or run; see 'twostep help'"}
	}
	switch args[0] {
	case "prepare":
		return cmdBenchPrepare(ctx, args[1:], getenv, stdout, stderr)
	case "run":
		return cmdBenchRun(ctx, args[1:], stdout, stderr)
	}
	return usageError{fmt.Sprintf("unknown command %q; see 'twostep help'", "bench "+args[0])}
}

// csvHeader is the first line of the accounts file.
const csvHeader = "email,password,totp_secret"

// stepsSuffix names the file, next to the accounts file, where `bench run`
// keeps the last TOTP time step it used per account, so that a run soon after
// another sends no code the server must refuse as a replay.
const stepsSuffix = ".steps"

var benchB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func cmdBenchPrepare(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fl := newFlags("bench prepare")
	load := configFlags(fl, getenv)
	n := fl.Int("accounts", 0, "how many accounts to create (required)")
	out := fl.String("out", "", "CSV file for the email,password,totp_secret lines (required; made with mode 0600)")
	force := fl.Bool("force", false, "overwrite --out when it exists")
	orgName := fl.String("org-name", "Load test", "name of the new organisation the accounts belong to")
	argon := fl.String("argon2", "cheap", "password hash parameters: cheap (m=64 KiB, t=1: measures Twostep, not argon2) or default (the server's own)")
	if err := parseFlags(fl, args, stderr); err != nil {
		return err
	}
	if *n == 0 || *out == "" {
		return usageError{"bench prepare needs --accounts and --out"}
	}
	if *n < 1 || *n > 1_000_000 {
		return usageError{fmt.Sprintf("--accounts=%d: must be 1 to 1000000", *n)}
	}
	var params twostep.Argon2Params
	switch *argon {
	case "cheap":
		params = twostep.CheapArgon2
	case "default":
		params = twostep.DefaultArgon2
	default:
		return usageError{fmt.Sprintf("--argon2=%q: must be cheap or default", *argon)}
	}
	if strings.TrimSpace(*orgName) == "" {
		return usageError{"--org-name must not be empty"}
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	// The file first: a refusal to overwrite comes before anything is written
	// to the database.
	mode := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		mode = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(*out, mode, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("--out %s: the file exists; add --force to overwrite it", *out)
	}
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(*out)
		}
	}()
	if err := f.Chmod(0o600); err != nil { // an overwritten file keeps its mode otherwise
		return fmt.Errorf("--out: %w", err)
	}
	if *argon == "cheap" {
		fmt.Fprintf(stderr, "bench prepare: these accounts use cheap argon2 parameters (m=%d KiB, t=%d): load tests only\n",
			params.Memory, params.Time)
	}
	a, err := openApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	shown := 0 // tenths of the work reported so far
	progress := func(k int) {
		if tenth := k * 10 / *n; tenth > shown {
			shown = tenth
			fmt.Fprintf(stderr, "bench prepare: %d of %d accounts (%d%%)\n", k, *n, k*100 / *n)
		}
	}
	accts, err := a.svc.PrepareLoadAccounts(ctx, *orgName, *n, params, progress)
	if err != nil {
		return flagError(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString(csvHeader + "\n")
	cw := csv.NewWriter(w)
	for _, la := range accts {
		cw.Write([]string{la.Email, la.Password, benchB32.EncodeToString(la.Secret)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	done = true
	// New accounts: whatever an earlier run recorded of the old ones is void.
	os.Remove(*out + stepsSuffix)
	fmt.Fprintf(stdout, "Wrote %d accounts (organisation %q, each with an active authenticator app, argon2 %s) to %s.\n",
		len(accts), *orgName, *argon, *out)
	return nil
}

// benchAccount is one line of the accounts file and what a run knows of it.
type benchAccount struct {
	email, password string
	secret          []byte
	last            int64    // the last time step a code was sent for (0: none)
	tokens          []string // verify mode: sign-in tokens made in the setup
}

// readAccounts reads the file prepare wrote.
func readAccounts(path string) ([]*benchAccount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--csv: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.FieldsPerRecord = 3
	head, err := r.Read()
	if err != nil || strings.Join(head, ",") != csvHeader {
		return nil, fmt.Errorf("--csv %s: the first line must be %s (a file from bench prepare)", path, csvHeader)
	}
	var out []*benchAccount
	seen := map[string]bool{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("--csv %s: %v", path, err)
		}
		line, _ := r.FieldPos(0)
		secret, err := benchB32.DecodeString(strings.TrimRight(strings.ToUpper(rec[2]), "="))
		if err != nil || len(secret) == 0 {
			return nil, fmt.Errorf("--csv %s: line %d: the TOTP secret is not Base32", path, line)
		}
		if rec[0] == "" || rec[1] == "" {
			return nil, fmt.Errorf("--csv %s: line %d: e-mail or password missing", path, line)
		}
		if seen[rec[0]] {
			return nil, fmt.Errorf("--csv %s: line %d: %s appears twice", path, line, rec[0])
		}
		seen[rec[0]] = true
		out = append(out, &benchAccount{email: rec[0], password: rec[1], secret: secret})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--csv %s: no accounts in the file", path)
	}
	return out, nil
}

// loadSteps applies the last time steps an earlier run recorded.
func loadSteps(path string, accts []*benchAccount) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	last := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		email, step, ok := strings.Cut(line, " ")
		if n, err := strconv.ParseInt(step, 10, 64); ok && err == nil {
			last[email] = n
		}
	}
	for _, a := range accts {
		a.last = max(a.last, last[a.email])
	}
}

// saveSteps records the last time step used per account, dropping those too
// old to matter.
func saveSteps(path string, accts []*benchAccount) error {
	var buf bytes.Buffer
	old := twostep.TOTPStep(time.Now()) - 2
	for _, a := range accts {
		if a.last > old {
			fmt.Fprintf(&buf, "%s %d\n", a.email, a.last)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bench-steps-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// stepMargin is how long a code may take to reach the server: a step about to
// leave the accepted window (now-1) is not used within this of its end.
const stepMargin = 5 * time.Second

// nextStep returns the time step a code for an account last used at step last
// should be made for now, and whether the server still accepts one: it accepts
// steps now-1, now and now+1, each once and in increasing order (replay
// protection keeps the last accepted step per factor).
func nextStep(last int64, now time.Time) (int64, bool) {
	lo := twostep.TOTPStep(now.Add(stepMargin)) - 1
	hi := twostep.TOTPStep(now) + 1
	s := max(last+1, lo)
	return s, s <= hi
}

// untilNextStep is how long until the server's window takes one more step.
func untilNextStep(now time.Time) time.Duration {
	next := time.Unix((twostep.TOTPStep(now)+1)*30, 0)
	return next.Sub(now) + 20*time.Millisecond
}

// maxVerifyDuration bounds a verify run: each account can be verified at three
// time steps at most, and the prepared sign-ins are spent within the window.
const maxVerifyDuration = 20 * time.Second

// maxVerifyRate is the most verifications a second the setup prepares for.
const maxVerifyRate = 20000

func cmdBenchRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlags("bench run")
	rawURL := fl.String("url", "", "the server's URL, such as http://127.0.0.1:8080 (required)")
	csvPath := fl.String("csv", "", "the accounts file bench prepare wrote (required)")
	mode := fl.String("mode", "journey", "journey (sign-in then second step) or verify (second step alone, sign-ins made in an unmeasured setup)")
	conc := fl.Int("c", 32, "concurrency: requests in flight, 1 to 10000")
	dur := fl.Duration("d", 10*time.Second, "how long to measure (verify mode: at most 20s)")
	pid := fl.Int("server-pid", 0, "pid of a local server to sample CPU time and RSS from (found by port for a loopback URL)")
	if err := parseFlags(fl, args, stderr); err != nil {
		return err
	}
	if *rawURL == "" || *csvPath == "" {
		return usageError{"bench run needs --url and --csv"}
	}
	u, err := url.Parse(*rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return usageError{fmt.Sprintf("--url=%q: must be an http:// or https:// URL such as http://127.0.0.1:8080", *rawURL)}
	}
	if *mode != "journey" && *mode != "verify" {
		return usageError{fmt.Sprintf("--mode=%q: must be journey or verify", *mode)}
	}
	if *conc < 1 || *conc > 10000 {
		return usageError{fmt.Sprintf("-c=%d: must be 1 to 10000", *conc)}
	}
	if *dur <= 0 {
		return usageError{fmt.Sprintf("-d=%s: must be a positive duration such as 10s", *dur)}
	}
	if *mode == "verify" && *dur > maxVerifyDuration {
		return usageError{fmt.Sprintf("-d=%s: verify mode runs at most %s (each account's codes are good for three 30-s time steps); prepare more accounts instead", *dur, maxVerifyDuration)}
	}
	if *pid < 0 {
		return usageError{fmt.Sprintf("--server-pid=%d: must be a process id", *pid)}
	}
	if *pid > 0 {
		if _, err := readCPU(*pid); err != nil {
			return fmt.Errorf("--server-pid=%d: cannot read its CPU time: %v", *pid, err)
		}
	}
	accts, err := readAccounts(*csvPath)
	if err != nil {
		return err
	}
	stepsPath := *csvPath + stepsSuffix
	loadSteps(stepsPath, accts)

	b := newBench(strings.TrimSuffix(u.String(), "/"), *conc, accts)
	if err := b.reachable(ctx); err != nil {
		return fmt.Errorf("--url %s: cannot reach the server: %v", u.Redacted(), err)
	}
	serverPID := *pid
	if serverPID == 0 {
		serverPID = findServerPID(u)
	}

	var setup setupResult
	if *mode == "verify" {
		setup = b.setup(ctx, *dur, stderr)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if setup.tokens == 0 {
			return fmt.Errorf("verify setup made no sign-in tokens (%s)", describeCounts(setup.errors, "none"))
		}
	}

	var sampler *procSampler
	if serverPID > 0 {
		sampler = startSampler(serverPID)
	}
	selfCPU, _ := readCPU(os.Getpid())
	fmt.Fprintf(stderr, "bench run: measuring %s mode for %s with %d in flight…\n", *mode, *dur, b.conc)
	res := b.measure(ctx, *mode, *dur)
	if cpu, err := readCPU(os.Getpid()); err == nil {
		res.clientCPU = cpu - selfCPU
	}
	var server *serverUsage
	if sampler != nil {
		server = sampler.stop()
	}
	if err := saveSteps(stepsPath, accts); err != nil {
		fmt.Fprintf(stderr, "bench run: could not record the time steps used in %s (%v): a run within 90 s may send replayed codes\n", stepsPath, err)
	}
	report(stdout, reportInput{url: u.Redacted(), mode: *mode, asked: *conc, conc: b.conc, dur: *dur, accounts: len(accts),
		setup: setup, res: res, server: server, interrupted: ctx.Err() != nil})
	return nil
}

// bench drives one server with a set of accounts.
type bench struct {
	base   string
	client *http.Client
	conc   int
	parts  [][]*benchAccount // accounts of each worker: no two workers share one
	ua     string
}

func newBench(base string, conc int, accts []*benchAccount) *bench {
	conc = min(conc, len(accts))
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conc,
		MaxIdleConnsPerHost: conc,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableCompression:  true,
	}
	b := &bench{base: base, client: &http.Client{Transport: tr, Timeout: 60 * time.Second}, conc: conc,
		parts: make([][]*benchAccount, conc), ua: "twostep-bench/" + version}
	for i, a := range accts {
		b.parts[i%conc] = append(b.parts[i%conc], a)
	}
	return b
}

// reachable fails when nothing answers at the URL (any HTTP answer will do).
func (b *bench) reachable(ctx context.Context) error {
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
			for ctx.Err() == nil && time.Now().Before(deadline) {
				a, wait, spent := pick(part, &next, time.Now(), mode == "verify")
				if spent {
					t.ranOut, t.ranOutAt = true, time.Since(start)
					return
				}
				if a == nil {
					t.waited += sleep(ctx, wait, deadline)
					continue
				}
				if mode == "verify" {
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
	if in.mode == "verify" {
		what = "verify (second step alone)"
	}
	fmt.Fprintf(w, "mode:        %s against %s\n", what, in.url)
	conc := strconv.Itoa(in.conc)
	if in.conc < in.asked {
		conc += fmt.Sprintf(" (-c %d asked, but the file has %d accounts)", in.asked, in.accounts)
	}
	fmt.Fprintf(w, "concurrency: %s\n", conc)
	fmt.Fprintf(w, "duration:    %s asked, %.2f s measured\n", in.dur, secs)
	if in.mode == "verify" {
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
	if in.mode == "journey" {
		fmt.Fprintf(w, "journeys:    %d, %.1f journeys/s\n", r.t.journeys, float64(r.t.journeys)/secs)
	}
	fmt.Fprintf(w, "latency ms:  %-9s %8s %8s %8s %8s\n", "", "p50", "p95", "p99", "max")
	kinds := []string{"verify"}
	if in.mode == "journey" {
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

// The server's CPU time and memory, from /proc (Linux).

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc/PID/stat.
const clockTicks = 100

// readCPU returns the user+system CPU time pid has used.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// After "pid (comm) ": state is field 3; utime and stime are 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("unreadable /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unreadable /proc stat")
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// readMem returns VmRSS and VmHWM of pid, in KiB.
func readMem(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if name == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
	}
	return rss, hwm, nil
}

type serverUsage struct {
	pid                 int
	cpu, wall           time.Duration
	rssEnd, rssMax, hwm int64 // KiB
}

// procSampler follows a server's RSS during a run.
type procSampler struct {
	pid      int
	start    time.Time
	cpuStart time.Duration
	done     chan struct{}
	wg       sync.WaitGroup
	rssMax   int64
}

func startSampler(pid int) *procSampler {
	p := &procSampler{pid: pid, start: time.Now(), done: make(chan struct{})}
	p.cpuStart, _ = readCPU(pid)
	p.wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss, _, err := readMem(pid); err == nil {
				p.rssMax = max(p.rssMax, rss)
			}
			select {
			case <-tick.C:
			case <-p.done:
				return
			}
		}
	})
	return p
}

// stop ends the sampling; nil when the server could not be read at the end
// (it stopped: the report then says nothing of it).
func (p *procSampler) stop() *serverUsage {
	close(p.done)
	p.wg.Wait()
	cpu, err := readCPU(p.pid)
	rss, hwm, err2 := readMem(p.pid)
	if err != nil || err2 != nil {
		return nil
	}
	return &serverUsage{pid: p.pid, cpu: cpu - p.cpuStart, wall: time.Since(p.start), rssEnd: rss, rssMax: max(p.rssMax, rss), hwm: hwm}
}

// findServerPID returns the pid of the local process listening on the URL's
// port when the URL names a loopback address, else 0: it reads the listening
// sockets in /proc/net/tcp{,6} and looks for their inode among the open files
// of the processes it may read.
func findServerPID(u *url.URL) int {
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return 0
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	want, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return 0
	}
	sockets := map[string]bool{}
	for _, path := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && p == want && f[9] != "0" {
				sockets["socket:["+f[9]+"]"] = true
			}
		}
	}
	if len(sockets) == 0 {
		return 0
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && sockets[target] {
				return pid
			}
		}
	}
	return 0
}
