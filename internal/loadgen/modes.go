package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// The modes for what sits beside the sign-in: forward auth, the OpenID
// Connect code flow and its refresh tokens, and the Verify API. Each has a
// setup that is not measured (signing in, registering what it needs) and a
// step that each worker repeats while measuring.
const (
	// ModeForwardAuth asks /api/v1/authz/forward-auth about a signed-in
	// session's forward-auth cookie, as a proxy does before every request.
	ModeForwardAuth = "forward-auth"
	// ModeOIDC runs the code flow with a session signed in once per worker:
	// authorize (redirects followed to the client's redirect URI), then the
	// token request with the code and its PKCE verifier.
	ModeOIDC = "oidc"
	// ModeRefresh exchanges refresh tokens, each rotated by the one before.
	ModeRefresh = "refresh"
	// ModeVerifyAPI starts a verification by e-mail and checks a code on it.
	ModeVerifyAPI = "verify-api"
)

// Modes lists every mode of Run.
var Modes = []string{ModeJourney, ModeVerify, ModeForwardAuth, ModeOIDC, ModeRefresh, ModeVerifyAPI}

// stepFunc is one measured iteration of a worker; it returns false when the
// worker has nothing left to do.
type stepFunc func(ctx context.Context, t *tally, deadline time.Time) bool

// sessionCookies are the names of the cookies the pages set over http; under
// https they carry the __Host- prefix (forward auth's never does).
func (b *bench) cookieName(name string) string {
	if strings.HasPrefix(b.base, "https:") && name != "twostep_fa" {
		return "__Host-" + name
	}
	return name
}

// pageVerify ends a sign-in through the pages (POST /sign-in/verify with the
// sign-in cookie) with the next TOTP code of a, and returns the cookies the
// answer sets.
func (b *bench) pageVerify(ctx context.Context, client *http.Client, a *benchAccount, token string) (map[string]string, error) {
	step, ok := nextStep(a.last, time.Now())
	if !ok {
		return nil, errors.New("no unused time step")
	}
	a.last = step
	form := url.Values{"method": {"totp"}, "code": {twostep.TOTPCode(a.secret, step)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/sign-in/verify", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", b.ua)
	req.AddCookie(&http.Cookie{Name: b.cookieName("twostep_signin"), Value: token})
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	out := map[string]string{}
	for _, c := range resp.Cookies() {
		out[c.Name] = c.Value
	}
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		return out, fmt.Errorf("sign-in page answered %d", resp.StatusCode)
	}
	return out, nil
}

// noRedirects is a client that returns redirects instead of following them.
func (b *bench) noRedirects() *http.Client {
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// setupForward signs accounts in through the pages and keeps their
// forward-auth cookies, at most perWorker per worker.
func (b *bench) setupForward(ctx context.Context, perWorker int) ([][]string, map[string]int, error) {
	client := b.noRedirects()
	tokens := make([][]string, b.conc)
	tallies := make([]*tally, b.conc)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	far := time.Now().Add(time.Hour)
	for w := range b.conc {
		tallies[w] = newTally()
		wg.Go(func() {
			for _, a := range b.parts[w] {
				if len(tokens[w]) >= perWorker || ctx.Err() != nil {
					return
				}
				if _, ok := nextStep(a.last, time.Now()); !ok {
					continue
				}
				tok := b.signIn(ctx, tallies[w], a, far)
				if tok == "" {
					continue
				}
				cookies, err := b.pageVerify(ctx, client, a, tok)
				if err == nil && cookies["twostep_fa"] == "" {
					err = errors.New("the server set no forward-auth cookie: start it with TWOSTEP_COOKIE_DOMAIN set (forward auth is off without it)")
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				tokens[w] = append(tokens[w], cookies["twostep_fa"])
			}
		})
	}
	wg.Wait()
	errs := map[string]int{}
	for _, t := range tallies {
		for k, v := range t.statuses {
			if k != "sign-in 200" && v > 0 {
				errs[k] += v
			}
		}
	}
	return tokens, errs, firstErr
}

// forwardStep returns worker w's step of forward-auth mode.
func (b *bench) forwardStep(tokens []string) stepFunc {
	client := b.noRedirects()
	i := 0
	return func(ctx context.Context, t *tally, deadline time.Time) bool {
		if len(tokens) == 0 {
			return false
		}
		tok := tokens[i%len(tokens)]
		i++
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/api/v1/authz/forward-auth", nil)
		if err != nil {
			return false
		}
		req.Header.Set("User-Agent", b.ua)
		req.AddCookie(&http.Cookie{Name: "twostep_fa", Value: tok})
		start := time.Now()
		ans := b.do(client, req, false)
		if pause := t.record(ctx, "forward", time.Since(start), ans); pause > 0 {
			sleep(ctx, pause, deadline)
		}
		return true
	}
}

// do sends req and reads the whole answer.
func (b *bench) do(client *http.Client, req *http.Request, keep bool) answer {
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return answer{err: err}
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, location: resp.Header.Get("Location")}
	if keep {
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

// oidcWorker is one worker's browser for the code flow: a cookie jar holding
// its Twostep session, and the refresh token it holds last.
type oidcWorker struct {
	b       *bench
	base    string // the issuer: the browser's name for the server
	client  *http.Client
	o       OIDC
	refresh string
}

// OIDC names the client the oidc and refresh modes act as: a public client
// (`twostep oidc client create --public`) with RedirectURI registered. The
// redirect URI is never contacted: the flow stops at the redirect to it.
type OIDC struct {
	ClientID    string
	RedirectURI string
}

func (b *bench) newOIDCWorker(o OIDC, issuer string) *oidcWorker {
	jar, _ := cookiejar.New(nil)
	c := *b.client
	c.Jar = jar
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), o.RedirectURI) || len(via) > 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &oidcWorker{b: b, base: issuer, client: &c, o: o}
}

// authorize runs the authorization request, following the redirects through
// the pages, and returns the code the client's redirect URI is given with its
// PKCE verifier; an answer that is not that redirect comes back as is.
func (w *oidcWorker) authorize(ctx context.Context) (code, verifier string, ans answer) {
	v := make([]byte, 32)
	rand.Read(v)
	verifier = base64.RawURLEncoding.EncodeToString(v)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {w.o.ClientID}, "redirect_uri": {w.o.RedirectURI}, "response_type": {"code"},
		"scope": {"openid offline_access"}, "state": {verifier[:16]}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.base+"/oauth2/authorize?"+q.Encode(), nil)
	if err != nil {
		return "", "", answer{err: err}
	}
	req.Header.Set("User-Agent", w.b.ua)
	ans = w.b.do(w.client, req, false)
	if ans.err != nil || ans.location == "" || !strings.HasPrefix(ans.location, w.o.RedirectURI) {
		return "", verifier, ans
	}
	u, err := url.Parse(ans.location)
	if err != nil {
		return "", verifier, ans
	}
	return u.Query().Get("code"), verifier, ans
}

// token posts form to the token endpoint and returns the refresh token of a 200.
func (w *oidcWorker) token(ctx context.Context, form url.Values) (string, answer) {
	form.Set("client_id", w.o.ClientID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.base+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", answer{err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", w.b.ua)
	ans := w.b.do(w.client, req, true)
	if ans.err != nil || ans.status != http.StatusOK {
		return "", ans
	}
	var body struct {
		RefreshToken string `json:"refresh_token"`
		AccessToken  string `json:"access_token"`
	}
	if json.Unmarshal(ans.body, &body) != nil || body.AccessToken == "" {
		return "", answer{status: ans.status, err: errors.New("a token answer without an access token")}
	}
	return body.RefreshToken, ans
}

// signInOnce signs the worker's browser in through the pages on the way of
// its first authorization request, with account a; it leaves a refresh token.
func (w *oidcWorker) signInOnce(ctx context.Context, a *benchAccount) error {
	// The authorization request lands on the sign-in page, which remembers it
	// in a cookie; then the password and the code, as a person gives them,
	// and the page sends the browser back to the provider.
	_, verifier, ans := w.authorize(ctx)
	if ans.err != nil {
		return ans.err
	}
	if ans.status != http.StatusOK {
		return fmt.Errorf("the authorization request answered %d (is --client-id a public client with --redirect-uri %s?)", ans.status, w.o.RedirectURI)
	}
	if ans := w.post(ctx, "/sign-in", url.Values{"email": {a.email}, "password": {a.password}}); ans.err != nil || ans.status != http.StatusOK {
		return fmt.Errorf("the sign-in page answered %d %v", ans.status, ans.err)
	}
	step, ok := nextStep(a.last, time.Now())
	if !ok {
		return errors.New("no unused time step")
	}
	a.last = step
	ans = w.post(ctx, "/sign-in/verify", url.Values{"method": {"totp"}, "code": {twostep.TOTPCode(a.secret, step)}})
	if ans.err != nil {
		return ans.err
	}
	u, err := url.Parse(ans.location)
	if err != nil || !strings.HasPrefix(ans.location, w.o.RedirectURI) || u.Query().Get("code") == "" {
		return fmt.Errorf("the sign-in did not return to the client (%d, to %q)", ans.status, ans.location)
	}
	refresh, ans := w.token(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"redirect_uri": {w.o.RedirectURI}, "code_verifier": {verifier}})
	if ans.err != nil || refresh == "" {
		return fmt.Errorf("token request: %d %v (no refresh token)", ans.status, ans.err)
	}
	w.refresh = refresh
	return nil
}

// post posts a page's form, following redirects short of the client's.
func (w *oidcWorker) post(ctx context.Context, path string, form url.Values) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", w.b.ua)
	return w.b.do(w.client, req, false)
}

// setupOIDC signs one account per worker in.
func (b *bench) setupOIDC(ctx context.Context, o OIDC) ([]*oidcWorker, error) {
	// The pages redirect to the server's base URL, which a browser follows by
	// name; the load generator names it so too (its connections all go to
	// --url), so that the cookies of a host go back to it.
	issuer, err := b.issuer(ctx)
	if err != nil {
		return nil, err
	}
	ws := make([]*oidcWorker, b.conc)
	errs := make([]error, b.conc)
	var wg sync.WaitGroup
	for w := range b.conc {
		ws[w] = b.newOIDCWorker(o, issuer)
		wg.Go(func() {
			for _, a := range b.parts[w] {
				if _, ok := nextStep(a.last, time.Now()); ok {
					errs[w] = ws[w].signInOnce(ctx, a)
					return
				}
			}
			errs[w] = errors.New("no account with an unused time step")
		})
	}
	wg.Wait()
	return ws, errors.Join(errs...)
}

// issuer reads the provider's issuer from its discovery document.
func (b *bench) issuer(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/.well-known/openid-configuration", nil)
	if err != nil {
		return "", err
	}
	ans := b.do(b.client, req, true)
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if ans.err != nil || ans.status != http.StatusOK || json.Unmarshal(ans.body, &doc) != nil || doc.Issuer == "" {
		return "", fmt.Errorf("no OpenID Connect discovery document at %s (%d %v)", b.base, ans.status, ans.err)
	}
	return strings.TrimSuffix(doc.Issuer, "/"), nil
}

// oidcStep is one code flow on the worker's session: authorize, then token.
func (w *oidcWorker) oidcStep(ctx context.Context, t *tally, deadline time.Time) bool {
	js := time.Now()
	code, verifier, ans := w.authorize(ctx)
	if ans.err == nil && code != "" {
		ans.status = http.StatusOK // the redirect with a code is the success
	} else if ans.err == nil && ans.status < 300 {
		ans.err = fmt.Errorf("authorize ended at %d, not at the redirect URI (the session is gone)", ans.status)
	}
	if pause := t.record(ctx, "authorize", time.Since(js), ans); pause > 0 || code == "" {
		sleep(ctx, pause, deadline)
		return true
	}
	start := time.Now()
	_, tans := w.token(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {w.o.RedirectURI}, "code_verifier": {verifier}})
	if pause := t.record(ctx, "token", time.Since(start), tans); pause > 0 {
		sleep(ctx, pause, deadline)
	}
	if tans.err == nil && tans.status == http.StatusOK {
		t.journeys++
		t.latency["journey"] = append(t.latency["journey"], time.Since(js))
	}
	return true
}

// refreshStep exchanges the worker's refresh token for the next one.
func (w *oidcWorker) refreshStep(ctx context.Context, t *tally, deadline time.Time) bool {
	if w.refresh == "" {
		return false
	}
	start := time.Now()
	next, ans := w.token(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {w.refresh}})
	if pause := t.record(ctx, "refresh", time.Since(start), ans); pause > 0 {
		sleep(ctx, pause, deadline)
	}
	if next != "" {
		w.refresh = next
	} else if ans.err == nil && ans.status != http.StatusOK {
		return false // the chain is spent: a rotated token would revoke it
	}
	return true
}

// APIKey is a Verify API key: the two lines `twostep apikey create` prints.
type APIKey struct{ ID, Secret string }

// ReadAPIKey reads the file `twostep apikey create` wrote: the key id on the
// first line, its secret on the second.
func ReadAPIKey(path string) (APIKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return APIKey{}, fmt.Errorf("--api-key: %w", err)
	}
	lines := strings.Fields(string(b))
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "SK") {
		return APIKey{}, fmt.Errorf("--api-key %s: want the key id and its secret on two lines, as twostep apikey create prints them", path)
	}
	return APIKey{ID: lines[0], Secret: lines[1]}, nil
}

// verifyAPI posts form to the Verify API path with the key.
func (b *bench) verifyAPI(ctx context.Context, key APIKey, path string, form url.Values) answer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/verify/v2"+path, strings.NewReader(form.Encode()))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", b.ua)
	req.SetBasicAuth(key.ID, key.Secret)
	return b.do(b.client, req, true)
}

// setupVerifyAPI makes the service the run verifies through.
func (b *bench) setupVerifyAPI(ctx context.Context, key APIKey) (string, error) {
	ans := b.verifyAPI(ctx, key, "/Services", url.Values{"FriendlyName": {"twostep bench"}})
	if ans.err != nil {
		return "", ans.err
	}
	var body struct {
		SID string `json:"sid"`
	}
	if ans.status != http.StatusCreated || json.Unmarshal(ans.body, &body) != nil || body.SID == "" {
		return "", fmt.Errorf("--api-key: creating a Verify service answered %d %s", ans.status, bytes.TrimSpace(ans.body))
	}
	return body.SID, nil
}

// verifyAPIStep starts a verification by e-mail to an address of its own and
// checks a code on it. The code is a wrong one: the right one went by e-mail,
// which the load generator does not read; the check does the same work
// (count, compare) short of the approval.
func (b *bench) verifyAPIStep(key APIKey, service string, w int) stepFunc {
	run := make([]byte, 4)
	rand.Read(run)
	prefix := fmt.Sprintf("bench-%x-%d-", run, w)
	n := 0
	return func(ctx context.Context, t *tally, deadline time.Time) bool {
		n++
		js := time.Now()
		ans := b.verifyAPI(ctx, key, "/Services/"+service+"/Verifications",
			url.Values{"To": {prefix + strconv.Itoa(n) + "@load-test.invalid"}, "Channel": {"email"}})
		if pause := t.record(ctx, "send", time.Since(js), ans); pause > 0 {
			sleep(ctx, pause, deadline)
			return true
		}
		var body struct {
			SID string `json:"sid"`
		}
		if ans.err != nil || ans.status != http.StatusCreated || json.Unmarshal(ans.body, &body) != nil {
			return true
		}
		start := time.Now()
		ans = b.verifyAPI(ctx, key, "/Services/"+service+"/VerificationCheck", url.Values{"VerificationSid": {body.SID}, "Code": {"000000"}})
		if pause := t.record(ctx, "check", time.Since(start), ans); pause > 0 {
			sleep(ctx, pause, deadline)
		}
		if ans.err == nil && ans.status == http.StatusOK {
			t.journeys++
			t.latency["journey"] = append(t.latency["journey"], time.Since(js))
		}
		return true
	}
}
