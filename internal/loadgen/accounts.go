// Package loadgen is the load generator behind `twostep bench` (API.md §1):
// Prepare seeds load-test accounts through the domain and writes their
// credentials to an accounts file; Run drives a running server with them over
// HTTP and reports throughput, latency, errors and, for a local server, its
// CPU time and memory. It is a client of the server, not part of it: nothing
// else imports it but cmd/twostep.
package loadgen

import (
	"bufio"
	"bytes"
	"encoding/base32"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twostep/twostep/internal/twostep"
)

// csvHeader is the first line of the accounts file.
const csvHeader = "email,password,totp_secret"

// StepsFile names the file, next to the accounts file csvPath, where Run
// keeps the last TOTP time step it used per account, so that a run soon after
// another sends no code the server must refuse as a replay. New accounts in
// csvPath make it void: remove it then.
func StepsFile(csvPath string) string { return csvPath + ".steps" }

var benchB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// WriteAccounts writes accts as the accounts file Run reads: the header line,
// then email,password,totp_secret (Base32, no padding) per account.
func WriteAccounts(w io.Writer, accts []twostep.LoadAccount) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(csvHeader + "\n")
	cw := csv.NewWriter(bw)
	for _, la := range accts {
		cw.Write([]string{la.Email, la.Password, benchB32.EncodeToString(la.Secret)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// benchAccount is one line of the accounts file and what a run knows of it.
type benchAccount struct {
	email, password string
	secret          []byte
	last            int64    // the last time step a code was sent for (0: none)
	tokens          []string // verify mode: sign-in tokens made in the setup
}

// readAccounts reads the file WriteAccounts wrote.
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
