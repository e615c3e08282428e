package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/tmf-platform/tmf/platform/store/changes"
	"github.com/tmf-platform/tmf/platform/store/dberr"
	"github.com/tmf-platform/tmf/platform/tracing"
)

// Dialect names, as Store.Dialect reports them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
	MySQL    = "mysql"
)

// DefaultSQLitePath is where Open("") keeps its database.
const DefaultSQLitePath = "./data/tmf.db"

// Precision is the resolution of every stored time: times are converted to
// UTC and truncated to it before they are written, so that SQLite,
// PostgreSQL and MySQL (DATETIME(6)) give back the same instant.
const Precision = time.Microsecond

// sqlitePragmas go in the DSN so that every connection gets them. _txlock=
// immediate makes a transaction take the write lock when it begins: with
// deferred transactions two processes on one file can each hold a read lock
// and fail to upgrade (SQLITE_BUSY without waiting).
const sqlitePragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(FULL)&_txlock=immediate"

// Store is the order platform's persistence. It is safe for concurrent use.
type Store struct {
	db      *gorm.DB
	sqlDB   *sql.DB
	dialect string
	clock   func() time.Time
	changes *changes.Tracker // cachewatch.go
	watch   *watcher
	work    *wakeups // work.go
	// safetyPoll is IdlePoll on PostgreSQL while listening.
	safetyPoll time.Duration
	// pollMu guards pollSeen, the versions last read (SQLite, MySQL).
	pollMu   sync.Mutex
	pollSeen map[string]int64
	// largeSubtrees speeds up lists under large org subtrees (access.go).
	largeSubtrees *largeSubtrees
}

type config struct {
	maxOpenConns int
	clock        func() time.Time
	safetyPoll   time.Duration
	replica      bool // AsReplica
}

// Option configures Open.
type Option func(*config)

// WithMaxOpenConns sets the connection pool size of PostgreSQL and MySQL
// (default 16); idle connections are kept up to the same number. SQLite
// always uses one connection: more starve writers.
func WithMaxOpenConns(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxOpenConns = n
		}
	}
}

// WithSafetyPoll replaces SafetyPoll, the idle wait of the loops that
// PostgreSQL's notifications wake (see IdlePoll). For tests: a long one
// shows that only a notification can explain work picked up promptly.
func WithSafetyPoll(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.safetyPoll = d
		}
	}
}

// WithClock replaces time.Now as the source of the timestamps the store sets
// (created_at, updated_at, idempotency staleness). For tests.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.clock = now
		}
	}
}

// Open connects to the database named by dsn:
//
//	""                                   SQLite file ./data/tmf.db (its directory is created)
//	sqlite:PATH, sqlite://PATH, *.db      SQLite file PATH
//	postgres://…, postgresql://…          PostgreSQL (pgx); runtime parameters such as search_path may be given
//	mysql://user:pass@tcp(host:port)/db?… MySQL or MariaDB; parseTime, UTC and utf8mb4 are forced
//
// Open checks the connection; it does not create the schema (see Migrate).
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg := config{maxOpenConns: 16, clock: time.Now, safetyPoll: SafetyPoll}
	for _, o := range opts {
		o(&cfg)
	}
	dialect, dialector, err := dialectorFor(dsn)
	if err != nil {
		return nil, err
	}
	s := &Store{dialect: dialect, clock: cfg.clock, safetyPoll: cfg.safetyPoll, largeSubtrees: newLargeSubtrees()}
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:                 logger.Default.LogMode(logger.Silent),
		NowFunc:                s.now,
		SkipDefaultTransaction: true, // the store opens the transactions it needs
		DisableAutomaticPing:   true,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	if dialect == SQLite {
		sqlDB.SetMaxOpenConns(1)
		sqlDB.SetMaxIdleConns(1)
	} else {
		sqlDB.SetMaxOpenConns(cfg.maxOpenConns)
		sqlDB.SetMaxIdleConns(cfg.maxOpenConns)
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
	}
	// Every statement goes through a pool that counts it (CountStatements).
	s.changes, s.work = changes.NewTracker(), &wakeups{}
	pool := &countingPool{db: sqlDB, changes: s.changes, work: s.work}
	db.ConnPool, db.Statement.ConnPool = pool, pool
	if err := registerTxTrace(db); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	s.db, s.sqlDB = db, sqlDB
	if cfg.replica {
		return s, nil // no ping, no LISTEN: see AsReplica
	}
	if err := s.Ping(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	s.watch = s.watchChanges(dsn)
	return s, nil
}

// dialectorFor picks the gorm dialector of a DSN.
func dialectorFor(dsn string) (string, gorm.Dialector, error) {
	switch {
	case dsn == "":
		d, err := sqliteDialector(DefaultSQLitePath)
		return SQLite, d, err
	case strings.HasPrefix(dsn, "sqlite://"):
		d, err := sqliteDialector(strings.TrimPrefix(dsn, "sqlite://"))
		return SQLite, d, err
	case strings.HasPrefix(dsn, "sqlite:"):
		d, err := sqliteDialector(strings.TrimPrefix(dsn, "sqlite:"))
		return SQLite, d, err
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return Postgres, postgres.New(postgres.Config{DSN: dsn}), nil
	case strings.HasPrefix(dsn, "mysql://"):
		my, err := mysqlDSN(dsn)
		if err != nil {
			return MySQL, nil, err
		}
		precision := 6
		// DisableWithReturning: on MariaDB gorm would add RETURNING to inserts
		// with an auto-increment key, and a no-op "ON DUPLICATE KEY UPDATE"
		// then still returns a row, so an insert-once could not tell a
		// duplicate from a new row.
		return MySQL, mysql.New(mysql.Config{DSN: my, DefaultDatetimePrecision: &precision, DisableWithReturning: true}), nil
	case strings.HasSuffix(strings.SplitN(dsn, "?", 2)[0], ".db"):
		d, err := sqliteDialector(dsn)
		return SQLite, d, err
	}
	return "", nil, fmt.Errorf("store: unsupported dsn %q: want sqlite:PATH, postgres://… or mysql://…", redact(dsn))
}

func sqliteDialector(dsn string) (gorm.Dialector, error) {
	path, query, _ := strings.Cut(dsn, "?")
	if path == "" {
		return nil, fmt.Errorf("store: sqlite dsn %q has no path", dsn)
	}
	if path != ":memory:" && !strings.HasPrefix(path, "file:") {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("store: sqlite directory: %w", err)
		}
	}
	full := path + "?" + sqlitePragmas
	if query != "" {
		full += "&" + query
	}
	return sqlite.Open(full), nil
}

// mysqlDSN turns mysql://user:pass@tcp(host:port)/db?params into the driver's
// DSN with parseTime=true, loc=UTC, utf8mb4 and client-side interpolation of
// parameters (one round trip per statement instead of prepare, execute, close).
func mysqlDSN(dsn string) (string, error) {
	c, err := mysqldriver.ParseDSN(strings.TrimPrefix(dsn, "mysql://"))
	if err != nil {
		return "", fmt.Errorf("store: mysql dsn: %w", err)
	}
	c.ParseTime = true
	c.Loc = time.UTC
	c.InterpolateParams = true
	// The handshake collation sets the connection charset, without the extra
	// SET NAMES round trip that a charset parameter costs.
	if !strings.HasPrefix(c.Collation, "utf8mb4") {
		c.Collation = "utf8mb4_bin"
	}
	delete(c.Params, "charset")
	return c.FormatDSN(), nil
}

// redact hides a password in a DSN for error messages.
func redact(dsn string) string {
	if at := strings.LastIndex(dsn, "@"); at > 0 {
		if scheme := strings.Index(dsn, "://"); scheme >= 0 && scheme < at {
			return dsn[:scheme+3] + "…" + dsn[at:]
		}
		return "…" + dsn[at:]
	}
	return dsn
}

// Dialect returns "sqlite", "postgres" or "mysql".
func (s *Store) Dialect() string { return s.dialect }

// Ping checks that the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s: %w", s.dialect, err)
	}
	return nil
}

// ProbeWrite checks that the database takes a write, for readiness probes:
// it upserts node's row of tmf_ready_probe and commits. A ping answers
// while the database refuses every write (a read-only file system or
// replica, a full disk, SQLite's file locked by another process); this
// does not. A rolled-back write would not do: SQLite in WAL mode need not
// touch the disk for one. The error matches ErrUnavailable when the
// database cannot serve. node names the server (host and listen address);
// ids up to 128 bytes.
func (s *Store) ProbeWrite(ctx context.Context, node string) error {
	if err := checkKey("node", node, 128); err != nil {
		return fmt.Errorf("store: write probe: %w", err)
	}
	row := readyProbe{Node: node, ProbedAt: s.now()}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "node"}},
		DoUpdates: clause.AssignmentColumns([]string{"probed_at"})}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("store: write probe of %s on %s: %w", node, s.dialect, unavailable(err))
	}
	return nil
}

// Close stops following changes and closes the connection pool.
func (s *Store) Close() error {
	s.watch.stop()
	return s.sqlDB.Close()
}

// Migrate creates the tables and indexes, or adds what an older schema lacks
// (and drops tmf_orders.owner_path, which Order.OwnerOrg replaced).
// It is safe to run again and from several processes at once: PostgreSQL and
// MySQL serialise it with an advisory lock held on a dedicated connection,
// SQLite with its single writer.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.migrate(ctx, models(), s.finishMigration); err != nil {
		return err
	}
	s.pollOnce(ctx) // the versions' table exists now: follow at once
	return nil
}

// MigrateModels migrates the given gorm models the way Migrate migrates the
// store's own, under the same lock. Domain packages keep their own tables
// and list them for it.
func (s *Store) MigrateModels(ctx context.Context, models ...any) error {
	return s.migrate(ctx, models, nil)
}

// finishMigration does, under the migration lock, what AutoMigrate cannot:
// it drops the owner_path column that Order.OwnerOrg replaced (NOT NULL
// without a default, it would refuse every new order) and creates the row
// of the organisation tree's lock.
func (s *Store) finishMigration(tx *gorm.DB) error {
	if tx.Migrator().HasColumn(&Order{}, "owner_path") {
		// Plain DDL, the same on the three databases (SQLite since 3.35):
		// gorm's SQLite migrator would copy the whole table to drop a column.
		if err := tx.Exec("ALTER TABLE tmf_orders DROP COLUMN owner_path").Error; err != nil {
			return fmt.Errorf("drop tmf_orders.owner_path: %w", err)
		}
	}
	if err := ensureOrgTreeLock(tx); err != nil {
		return err
	}
	// A row per cached kind, so that Mark only ever updates.
	for _, k := range changes.Kinds {
		if err := tx.Session(&gorm.Session{NewDB: true}).Clauses(clause.OnConflict{DoNothing: true}).Create(&changes.Version{Kind: k}).Error; err != nil {
			return fmt.Errorf("seed tmf_cache_versions: %w", err)
		}
	}
	return nil
}

// migrate runs AutoMigrate of models, then after (when not nil), under the
// migration lock.
func (s *Store) migrate(ctx context.Context, models []any, after func(tx *gorm.DB) error) error {
	run := func(tx *gorm.DB) error {
		if err := tx.AutoMigrate(models...); err != nil {
			return err
		}
		if err := ensureWorkTriggers(tx); err != nil {
			return err
		}
		if after != nil {
			return after(tx)
		}
		return nil
	}
	var err error
	switch s.dialect {
	case SQLite:
		err = s.db.WithContext(ctx).Transaction(run)
	case Postgres:
		// Keyed by schema, so that isolated schemas (tests, tenants) do not
		// wait for each other.
		err = s.withMigrationLock(ctx,
			"SELECT pg_advisory_lock(hashtext('tmf_migrate:' || current_schema()))",
			"SELECT pg_advisory_unlock(hashtext('tmf_migrate:' || current_schema()))",
			func(tx *gorm.DB) error {
				// PostgreSQL DDL is transactional: a failed migration leaves nothing half done.
				return tx.Transaction(run)
			})
	case MySQL:
		err = s.migrateMySQL(ctx, run)
	}
	if err != nil {
		return fmt.Errorf("store: migrate %s: %w", s.dialect, err)
	}
	return nil
}

func (s *Store) migrateMySQL(ctx context.Context, run func(tx *gorm.DB) error) error {
	var database string
	if err := s.db.WithContext(ctx).Raw("SELECT DATABASE()").Scan(&database).Error; err != nil {
		return err
	}
	// GET_LOCK names are server-wide and at most 64 characters: one lock per database.
	name := "tmf_migrate:" + database
	if len(name) > 64 {
		sum := sha256.Sum256([]byte(database))
		name = "tmf_migrate:" + hex.EncodeToString(sum[:16])
	}
	quoted := "'" + strings.ReplaceAll(name, "'", "''") + "'"
	return s.withMigrationLock(ctx,
		"SELECT GET_LOCK("+quoted+", 60)",
		"SELECT RELEASE_LOCK("+quoted+")",
		func(tx *gorm.DB) error {
			return run(tx.Set("gorm:table_options", "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"))
		})
}

// withMigrationLock runs fn on one connection while it holds a session-level
// lock. If the lock cannot be released the connection is discarded, which
// releases it.
func (s *Store) withMigrationLock(ctx context.Context, lock, unlock string, fn func(tx *gorm.DB) error) error {
	return s.db.WithContext(ctx).Connection(func(tx *gorm.DB) error {
		conn := tx.Statement.ConnPool.(*sql.Conn)
		if s.dialect == MySQL {
			var got sql.NullInt64 // 1 locked, 0 timed out, NULL error
			if err := conn.QueryRowContext(ctx, lock).Scan(&got); err != nil {
				return fmt.Errorf("migration lock: %w", err)
			}
			if got.Int64 != 1 {
				return errors.New("migration lock: GET_LOCK timed out after 60s")
			}
		} else if _, err := conn.ExecContext(ctx, lock); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		defer func() {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if _, err := conn.ExecContext(uctx, unlock); err != nil {
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}()
		return fn(tx)
	})
}

// DB is the store's gorm handle, bound to ctx, for the domain packages that
// keep their own tables in the same database. Writes that must be atomic go
// through Tx.
func (s *Store) DB(ctx context.Context) *gorm.DB { return s.db.WithContext(ctx) }

// Tx runs fn in one transaction, again (maxTxAttempts times in all) if the
// database aborted it to break a deadlock or a serialisation conflict, and
// once more if its connection was lost before it committed; fn must not
// keep state between runs. An error that says the database is unavailable
// matches ErrUnavailable. On SQLite the store has one connection: fn must
// use tx, never the store, or it waits for itself.
func (s *Store) Tx(ctx context.Context, fn func(tx *gorm.DB) error) error { return s.inTx(ctx, fn) }

// maxTxAttempts bounds how often inTx runs a transaction the database
// aborted to break a deadlock.
const maxTxAttempts = 5

// IsRetryable reports whether err (after Tx's own attempts) is only a lost
// race the database resolved by aborting the transaction: the caller may
// try again.
func IsRetryable(err error) bool { return isRetryable(err) }

// inTx runs fn in one transaction, again (at most maxTxAttempts times in
// all) if the database aborted it to break a deadlock, and once more if
// the connection dropped before COMMIT was sent (a server that restarted,
// a proxy or firewall that cut an idle pooled connection): the pool hands
// the next attempt a fresh connection. A connection lost during COMMIT is
// not retried: see dberr.LostBeforeCommit. fn must not keep state between
// runs.
func (s *Store) inTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if !tracing.Enabled() {
		return s.runTx(ctx, fn)
	}
	return s.tracedTx(ctx, func(ctx context.Context) error { return s.runTx(ctx, fn) })
}

func (s *Store) runTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	reconnected := false
	for attempt := 1; ; attempt++ {
		txAttempt(ctx)
		committing := false
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := fn(tx); err != nil {
				return err
			}
			committing = true // gorm commits when fn returns nil
			return nil
		})
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return unavailable(err)
		case isRetryable(err) && attempt < maxTxAttempts:
			time.Sleep(time.Duration(attempt) * time.Duration(1+mrand.IntN(5)) * time.Millisecond)
		case !reconnected && dberr.LostBeforeCommit(err, committing):
			reconnected = true
		default:
			return unavailable(err)
		}
	}
}

// now is the store's clock at the stored precision.
func (s *Store) now() time.Time { return stamp(s.clock()) }

// stamp converts t to what the database gives back: UTC, microseconds.
func stamp(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(Precision)
}

func stampPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := stamp(*t)
	return &v
}

// newID returns 128 random bits in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
