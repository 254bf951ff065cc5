package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the driver Twostep's store uses
)

// `twostep bench reference` is the ceiling a second step on SQLite is held
// to (issue 21): a server that answers the same requests as Twostep's API
// with the least a verification can do, one HMAC check of the sign-in token
// and one UPDATE of the account's row in SQLite, set up as Twostep's own (the
// same driver, WAL, synchronous=NORMAL, one writer connection, the statement
// prepared). The load generator drives it as it drives Twostep, in the same
// run, so that the two figures share the machine's load.

func cmdBenchReference(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlags("bench reference")
	listen := fl.String("listen", "127.0.0.1:8090", "address to listen on")
	dbPath := fl.String("db", "", "SQLite file to keep its rows in (required; made if missing)")
	if err := parseFlags(fl, args, stderr); err != nil {
		return err
	}
	if *dbPath == "" {
		return usageError{"bench reference needs --db"}
	}
	ref, err := newReference(ctx, *dbPath)
	if err != nil {
		return err
	}
	defer ref.db.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	srv := &http.Server{Handler: ref, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "Reference server (one HMAC check and one SQLite UPDATE per second step) is running at http://%s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type reference struct {
	db     *sql.DB
	key    []byte
	update *sql.Stmt
	mu     sync.Mutex // sign-ins (setup) add rows one at a time
}

func newReference(ctx context.Context, path string) (*reference, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, last_used_at INTEGER NOT NULL DEFAULT 0)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("--db: %w", err)
	}
	update, err := db.PrepareContext(ctx, `UPDATE accounts SET last_used_at = ? WHERE id = ?`)
	if err != nil {
		db.Close()
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	return &reference{db: db, key: key, update: update}, nil
}

func (ref *reference) mac(id int64) string {
	m := hmac.New(sha256.New, ref.key)
	m.Write([]byte(strconv.FormatInt(id, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (ref *reference) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz":
		w.WriteHeader(http.StatusOK)
	case "/api/v1/sign-in":
		// Setup, not measured: the account's row, and a token naming it.
		var body struct {
			Email string `json:"email"`
		}
		if json.NewDecoder(r.Body).Decode(&body) != nil || body.Email == "" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		ref.mu.Lock()
		var id int64
		err := ref.db.QueryRowContext(r.Context(), `INSERT INTO accounts (email) VALUES (?)
			ON CONFLICT (email) DO UPDATE SET email = excluded.email RETURNING id`, body.Email).Scan(&id)
		ref.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeRefJSON(w, map[string]string{"status": "second_step", "sign_in_token": strconv.FormatInt(id, 10) + "." + ref.mac(id)})
	case "/api/v1/sign-in/verify":
		var body struct {
			Token string `json:"sign_in_token"`
			Code  string `json:"code"`
		}
		if json.NewDecoder(r.Body).Decode(&body) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		idText, mac, _ := strings.Cut(body.Token, ".")
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil || !hmac.Equal([]byte(mac), []byte(ref.mac(id))) {
			http.Error(w, "expired", http.StatusGone)
			return
		}
		if _, err := ref.update.ExecContext(context.WithoutCancel(r.Context()), time.Now().UnixMicro(), id); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeRefJSON(w, map[string]string{"status": "signed_in"})
	default:
		http.NotFound(w, r)
	}
}

func writeRefJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
