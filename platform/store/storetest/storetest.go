// Package storetest opens isolated, migrated stores for tests, on every
// dialect: SQLite always, PostgreSQL when TMF_TEST_POSTGRES names a server
// (postgres://postgres@127.0.0.1:5432/test?sslmode=disable) and MySQL or
// MariaDB when TMF_TEST_MYSQL does (mysql://root@tcp(127.0.0.1:3306)/test).
// A dialect whose variable is unset is skipped with a message naming it, so
// `go test ./...` passes on a laptop.
//
// Every store is its own database (a file in t.TempDir(), a fresh
// PostgreSQL schema, a fresh MySQL database), dropped when the test ends,
// so tests and packages may run in parallel.
package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/internal/testdb"
)

// Environment variables naming the servers to test against.
const (
	EnvPostgres = testdb.EnvPostgres
	EnvMySQL    = testdb.EnvMySQL
)

// Dialects lists every dialect ("sqlite", "postgres", "mysql"), whether or
// not its server is configured here; Open skips the unavailable ones.
func Dialects() []string { return testdb.Dialects() }

// Available reports whether the dialect can be tested here.
func Available(dialect string) bool { return testdb.Available(dialect) }

// NewDatabase creates a fresh, empty, isolated database of the dialect and
// returns its DSN for store.Open, or skips the test when the dialect is not
// configured. The database is dropped when the test ends: close the stores
// on it in cleanups registered after this call.
func NewDatabase(t testing.TB, dialect string) string {
	t.Helper()
	return testdb.DSN(t, dialect)
}

// Open returns a migrated store on a fresh, isolated database of the
// dialect, closed and dropped when the test ends; it skips the test when
// the dialect is not configured.
func Open(t testing.TB, dialect string, opts ...store.Option) *store.Store {
	t.Helper()
	s := OpenOn(t, NewDatabase(t, dialect), opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("storetest: migrate %s: %v", dialect, err)
	}
	for _, check := range OnOpen {
		check(t, s)
	}
	return s
}

// OpenOn opens another store on the database of dsn (from NewDatabase),
// as another server on the same database would: not migrated, without the
// OnOpen checks, closed when the test ends.
func OpenOn(t testing.TB, dsn string, opts ...store.Option) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := store.Open(ctx, dsn, opts...)
	if err != nil {
		t.Fatalf("storetest: open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("storetest: close %s: %v", s.Dialect(), err)
		}
	})
	return s
}

// OnOpen are checks a test binary adds to every store Open returns, from
// an init function in one of its _test.go files: each runs after the
// migration and may register cleanups, which run before the store is
// closed. platform/events/eventstest.Register adds the event catalogue's
// check of every outbox row the test wrote.
var OnOpen []func(t testing.TB, s *store.Store)

// ForEach runs fn in a subtest per dialect, named after it, with a fresh
// store; dialects that are not configured are skipped.
func ForEach(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	ForEachDialect(t, func(t *testing.T, dialect string) { fn(t, Open(t, dialect)) })
}

// ForEachDialect runs fn in a subtest per configured dialect, for tests that
// open stores themselves (several stores on one database, options).
func ForEachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) {
			testdb.SkipUnavailable(t, d)
			fn(t, d)
		})
	}
}

// KillSession makes the server end the session that tx runs on, as a
// server restart or a proxy cutting the connection would: PostgreSQL's
// pg_terminate_backend, MySQL's KILL, each from another connection of s's
// pool, waiting until the session is gone. The next statement on tx fails
// with a lost connection. SQLite has no server: the test is skipped.
func KillSession(t testing.TB, s *store.Store, tx *gorm.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var id int64
	switch s.Dialect() {
	case store.Postgres:
		if err := tx.Raw("SELECT pg_backend_pid()").Scan(&id).Error; err != nil {
			t.Fatalf("storetest: backend pid: %v", err)
		}
		// With a timeout, pg_terminate_backend waits until the backend exited.
		var gone bool
		if err := s.SQL().QueryRowContext(ctx, "SELECT pg_terminate_backend($1, 10000)", id).Scan(&gone); err != nil || !gone {
			t.Fatalf("storetest: terminate backend %d: %v, %v", id, gone, err)
		}
	case store.MySQL:
		if err := tx.Raw("SELECT CONNECTION_ID()").Scan(&id).Error; err != nil {
			t.Fatalf("storetest: connection id: %v", err)
		}
		if _, err := s.SQL().ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id)); err != nil {
			t.Fatalf("storetest: kill connection %d: %v", id, err)
		}
		for {
			var n int
			err := s.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&n)
			if err != nil {
				t.Fatalf("storetest: wait for connection %d to end: %v", id, err)
			}
			if n == 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	default:
		t.Skipf("storetest: %s has no server session to kill", s.Dialect())
	}
}
