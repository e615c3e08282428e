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
	"testing"
	"time"

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
	dsn := NewDatabase(t, dialect)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := store.Open(ctx, dsn, opts...)
	if err != nil {
		t.Fatalf("storetest: open %s: %v", dialect, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("storetest: close %s: %v", dialect, err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("storetest: migrate %s: %v", dialect, err)
	}
	return s
}

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
