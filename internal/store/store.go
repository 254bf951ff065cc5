// Package store keeps Twostep's data in SQLite or PostgreSQL.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/twostep/twostep/internal/twostep"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Options tunes Open. The zero value is the default.
type Options struct {
	// SQLiteSync is SQLite's synchronous setting: "normal" (the default) survives
	// a crash of the process but a power cut may lose the last commits; "full"
	// syncs every commit to disk, at a cost in commits per second.
	SQLiteSync string
	// Logger receives what Migrate applies; nil discards it.
	Logger *slog.Logger
	// ConnectTimeout bounds each attempt to connect to PostgreSQL (pgx's
	// connect_timeout, unless the URL sets one): without it, a server whose
	// packets are dropped holds a new connection until the kernel gives up,
	// minutes later. Zero is DefaultConnectTimeout.
	ConnectTimeout time.Duration
}

// DefaultConnectTimeout is Options.ConnectTimeout when it is zero.
const DefaultConnectTimeout = 5 * time.Second

// postgresSessionTimeouts are set on every PostgreSQL connection of the pool
// unless the URL sets them. A request that gave up on the database (its
// deadline passed, the network dropped) closes its connection, but PostgreSQL
// learns that only when it next writes to it: until then the statement runs on
// and its transaction keeps its row locks, which stop every other instance. These
// bound that. Migrations run on connections of their own without them: an index
// built over a large table may take longer.
var postgresSessionTimeouts = map[string]string{
	"statement_timeout":                   "30s",
	"idle_in_transaction_session_timeout": "30s",
}

// DB is a twostep.Store and the delivery worker's twostep.DeliveryQueue on
// SQLite or PostgreSQL, safe for concurrent use.
type DB struct {
	d     *dialect
	read  querier // outside Atomic the reader pool, inside it the transaction
	write querier // outside Atomic the writer pool, inside it the transaction
	pools *pools  // nil for the DB that Atomic hands to its function
	// pg is the transaction of the DB that Atomic hands its function on
	// PostgreSQL, nil otherwise.
	pg *pgTx
}

var (
	_ twostep.Store         = (*DB)(nil)
	_ twostep.DeliveryQueue = (*DB)(nil)
)

type pools struct {
	writer, reader *sql.DB // one and the same pool on PostgreSQL
	// pgx is PostgreSQL's pool, on which Atomic runs its transactions natively
	// (writer and reader are database/sql over it); nil on SQLite.
	pgx *pgxpool.Pool
	// trips counts PostgreSQL's round trips; nil on SQLite.
	trips *roundTrips
	log   *slog.Logger
	// pg is the PostgreSQL connection configuration, for the migrations' own
	// connections; nil on SQLite.
	pg *pgx.ConnConfig
	// stmts caches the writer's prepared statements on SQLite; nil on PostgreSQL.
	stmts, readStmts *stmtCache
	// batch groups concurrent Atomic calls into one transaction on SQLite; nil on PostgreSQL.
	batch *batcher
	// checkpoint copies the WAL into the database file on SQLite; nil on PostgreSQL.
	checkpoint *checkpointer
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) scanner
}

// rows is what a query returns: *sql.Rows, or pgx's rows in a PostgreSQL
// transaction (pgTx).
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// sqlRunner is a database/sql pool or transaction.
type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sqlQuerier is a querier over database/sql.
type sqlQuerier struct{ r sqlRunner }

func (q sqlQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.r.ExecContext(ctx, query, args...)
}

func (q sqlQuerier) QueryContext(ctx context.Context, query string, args ...any) (rows, error) {
	return sqlRows(q.r.QueryContext(ctx, query, args...))
}

func (q sqlQuerier) QueryRowContext(ctx context.Context, query string, args ...any) scanner {
	return q.r.QueryRowContext(ctx, query, args...)
}

// sqlRows keeps a nil *sql.Rows from becoming a non-nil rows.
func sqlRows(r *sql.Rows, err error) (rows, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}

// dialect is everything that differs between SQLite and PostgreSQL; the SQL
// elsewhere is written once, with ? placeholders.
type dialect struct {
	name      string // directory of its migrations
	goose     goose.Dialect
	dollar    bool   // placeholders are $1, $2, …
	forUpdate string // appended to a SELECT to hold the rows it reads
	// skipLocked is appended to a SELECT that picks rows for this worker to take
	// over: it holds them and passes over those another transaction holds. On
	// SQLite the one writer already makes such a statement run alone.
	skipLocked string
	txOptions  *sql.TxOptions
}

var (
	sqliteDialect = &dialect{name: "sqlite", goose: goose.DialectSQLite3}
	// Read committed plus explicit row locks (FOR UPDATE, conditional UPDATEs)
	// is all the store needs; it never fails a transaction for serialization.
	postgresDialect = &dialect{name: "postgres", goose: goose.DialectPostgres, dollar: true,
		forUpdate: " FOR UPDATE", skipLocked: " FOR UPDATE SKIP LOCKED", txOptions: &sql.TxOptions{Isolation: sql.LevelReadCommitted}}
)

func (d *dialect) bind(q string) string {
	if !d.dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
		} else {
			b.WriteByte(q[i])
		}
	}
	return b.String()
}

var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// Open connects to the database at url: "sqlite:PATH" (or "sqlite://PATH") or
// "postgres://…" ("postgresql://…"). It does not migrate; call Migrate.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
		return openSQLite(ctx, path, opts.SQLiteSync, log)
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPostgres(ctx, url, opts.ConnectTimeout, log)
	}
	// Only the scheme is shown: the rest may hold a password.
	scheme, _, ok := strings.Cut(url, ":")
	if !ok || !urlScheme.MatchString(scheme) {
		scheme = ""
	}
	return nil, fmt.Errorf("store: unsupported database URL scheme %q (want sqlite: or postgres://)", scheme)
}

// openSQLite opens one writer connection and a pool of readers. SQLite allows one
// writer at a time; funnelling writes through one connection that begins with
// BEGIN IMMEDIATE makes them queue in Go instead of failing with "database is
// locked", while WAL lets the readers go on meanwhile.
func openSQLite(ctx context.Context, path, sync string, log *slog.Logger) (*DB, error) {
	switch strings.ToLower(sync) {
	case "", "normal":
		sync = "NORMAL"
	case "full":
		sync = "FULL"
	default:
		return nil, fmt.Errorf("store: unknown SQLite sync %q (want normal or full)", sync)
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		// The writer and readers must share one file, and the DSN parameters
		// below must be the only ones.
		return nil, fmt.Errorf("store: SQLite needs a plain file path, not %q", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := privateSQLiteFiles(path, log); err != nil {
		return nil, err
	}
	// _pragma parameters run on every new connection of a pool.
	common := "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=cache_size(-32000)"
	// The writer reads through a memory map, which spares it a pread for every
	// page its page cache does not hold. The map covers databases up to 2 GB
	// (SQLite's ceiling): with a million accounts (600 MB) a 256 MB map cost a
	// third of the second steps per second. Mapped pages count in the RSS but
	// are the kernel's page cache, given back under memory pressure.
	//
	// Readers do without: a read transaction that finds the WAL changed since
	// its last one unmaps the whole file and faults it in again, which under
	// steady writes cost sign-ins a quarter of their throughput.
	mapped := "&_pragma=mmap_size(2147418112)"
	// temp_store(MEMORY) keeps the batcher's savepoint journal in memory: on
	// disk it cost a quarter of the writer's time in system calls. The
	// checkpointer copies the WAL back and restarts it (checkpoint.go); the
	// writer does it only as a backstop.
	writer, err := sql.Open("sqlite", path+common+mapped+"&_pragma=journal_mode(WAL)&_pragma=synchronous("+sync+")&_pragma=temp_store(MEMORY)&_pragma=wal_autocheckpoint("+strconv.Itoa(walBackstopPages)+")&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	writer.SetMaxOpenConns(1)
	// The writer connects first so that the file is in WAL mode before a reader opens it.
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	reader, err := sql.Open("sqlite", path+common+"&_pragma=query_only(1)")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	reader.SetMaxOpenConns(4)
	reader.SetMaxIdleConns(4)
	// The checkpointer syncs as the writer would have: same synchronous setting.
	ckpt, err := sql.Open("sqlite", path+common+"&_pragma=synchronous("+sync+")")
	if err != nil {
		writer.Close()
		reader.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	ckpt.SetMaxOpenConns(1)
	ws, rs := newStmtCache(writer), newStmtCache(reader)
	cp := newCheckpointer(ckpt)
	return &DB{d: sqliteDialect, read: cachedPool{rs}, write: cachedPool{ws},
		pools: &pools{writer: writer, reader: reader, log: log, stmts: ws, readStmts: rs,
			batch: newBatcher(writer, ws, sqliteDialect, cp), checkpoint: cp}}, nil
}

func openPostgres(ctx context.Context, url string, connectTimeout time.Duration, log *slog.Logger) (*DB, error) {
	// pgxpool's parser takes pool_max_conns and the pool's other settings
	// from the URL, and leaves them out of the connections' own.
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("store: the PostgreSQL URL cannot be parsed")
	}
	cfg := pcfg.ConnConfig
	if cfg.ConnectTimeout == 0 {
		if connectTimeout <= 0 {
			connectTimeout = DefaultConnectTimeout
		}
		cfg.ConnectTimeout = connectTimeout
	}
	migrations := cfg.Copy()
	for k, v := range postgresSessionTimeouts {
		if _, ok := cfg.RuntimeParams[k]; !ok {
			cfg.RuntimeParams[k] = v
			migrations.RuntimeParams[k] = "0"
		}
	}
	trips := &roundTrips{}
	cfg.Tracer = trips
	// Bounded so that several instances fit under the server's max_connections
	// (PostgresMaxConns), unless the URL says otherwise.
	if !strings.Contains(url, "pool_max_conns=") {
		pcfg.MaxConns = PostgresMaxConns
	}
	if !strings.Contains(url, "pool_max_conn_idle_time=") {
		pcfg.MaxConnIdleTime = 5 * time.Minute
	}
	native, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("store: %w", unavailable(err))
	}
	// What runs outside Atomic goes through database/sql on the same pool.
	pool := stdlib.OpenDBFromPool(native)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		native.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	q := sqlQuerier{pool}
	return &DB{d: postgresDialect, read: q, write: q,
		pools: &pools{writer: pool, reader: pool, pgx: native, trips: trips, log: log, pg: migrations}}, nil
}

// PostgresMaxConns is the most connections one DB opens to PostgreSQL unless
// the URL sets pool_max_conns: every instance of `twostep serve` holds up to
// this many of the server's max_connections (100 by default).
const PostgresMaxConns = 16

// PoolStats is what a PostgreSQL pool holds and has waited for.
type PoolStats struct {
	Max, Total, Acquired, Idle int32
	// Waits counts acquisitions that found no idle connection; WaitTime is
	// the time they waited in all.
	Waits    int64
	WaitTime time.Duration
}

// PoolStats returns the PostgreSQL pool's state; ok is false on SQLite.
func (db *DB) PoolStats() (s PoolStats, ok bool) {
	if db.pools == nil || db.pools.pgx == nil {
		return PoolStats{}, false
	}
	st := db.pools.pgx.Stat()
	return PoolStats{Max: st.MaxConns(), Total: st.TotalConns(), Acquired: st.AcquiredConns(), Idle: st.IdleConns(),
		Waits: st.EmptyAcquireCount(), WaitTime: st.EmptyAcquireWaitTime()}, true
}

// Close closes the database. It is a no-op on the DB handed to an Atomic function.
func (db *DB) Close() error {
	if db.pools == nil {
		return nil
	}
	if db.pools.batch != nil {
		db.pools.batch.close()
	}
	var err error
	if db.pools.checkpoint != nil {
		err = db.pools.checkpoint.close()
	}
	if db.pools.stmts != nil {
		db.pools.stmts.close()
		db.pools.readStmts.close()
	}
	err = errors.Join(err, db.pools.writer.Close())
	if db.pools.reader != db.pools.writer {
		err = errors.Join(err, db.pools.reader.Close())
	}
	if db.pools.pgx != nil {
		db.pools.pgx.Close()
	}
	return err
}

// Migrate brings the schema up to date with the migrations built into the binary.
func (db *DB) Migrate(ctx context.Context) error {
	if err := db.refuseInsideAtomic(ctx); err != nil {
		return err
	}
	p, done, err := db.migrator()
	if err != nil {
		return err
	}
	defer done()
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, r := range results {
		db.pools.log.Info("applied migration", "version", r.Source.Version,
			"file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// migrator returns the migrations' provider and a function that releases what
// it holds once the migrations are done.
func (db *DB) migrator() (*goose.Provider, func(), error) {
	if db.pools == nil {
		return nil, nil, errors.New("store: migrate inside Atomic")
	}
	fsys, err := fs.Sub(migrations, "migrations/"+db.d.name)
	if err != nil {
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	on, done := db.pools.writer, func() {}
	if db.d == postgresDialect {
		// Several instances may start at once; one migrates, the others wait.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, nil, fmt.Errorf("store: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
		// Without the pool's statement timeouts (postgresSessionTimeouts).
		on = stdlib.OpenDB(*db.pools.pg)
		done = func() { on.Close() }
	}
	p, err := goose.NewProvider(db.d.goose, on, fsys, opts...)
	if err != nil {
		done()
		return nil, nil, fmt.Errorf("store: migrate: %w", err)
	}
	return p, done, nil
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.refuseInsideAtomic(ctx); err != nil {
		return err
	}
	var one int
	if err := db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", unavailable(err))
	}
	return nil
}
