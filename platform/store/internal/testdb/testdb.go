// Package testdb provisions isolated, empty databases for tests: a file in
// the test's temporary directory for SQLite, a fresh schema for PostgreSQL and
// a fresh database for MySQL, each dropped when the test ends. It does not
// import package store, so that the store's own internal tests can use it.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// The environment variables that name the servers to test against. A dialect
// whose variable is unset is skipped.
const (
	EnvPostgres = "TMF_TEST_POSTGRES" // e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable
	EnvMySQL    = "TMF_TEST_MYSQL"    // e.g. mysql://root@tcp(127.0.0.1:3306)/test
)

// Dialects lists every dialect, available here or not.
func Dialects() []string { return []string{"sqlite", "postgres", "mysql"} }

// Env returns the environment variable a dialect needs ("" for SQLite).
func Env(dialect string) string {
	switch dialect {
	case "postgres":
		return EnvPostgres
	case "mysql":
		return EnvMySQL
	}
	return ""
}

// Available reports whether the dialect's server is configured.
func Available(dialect string) bool {
	env := Env(dialect)
	return env == "" || os.Getenv(env) != ""
}

// SkipUnavailable skips the test when its dialect's server is not configured.
func SkipUnavailable(t testing.TB, dialect string) {
	t.Helper()
	if !Available(dialect) {
		t.Skipf("%s is not set: skipping the %s tests", Env(dialect), dialect)
	}
}

// DSN creates a fresh, empty database of the dialect, isolated from every
// other test (packages run in parallel), and returns the DSN that
// store.Open takes. The database is dropped when the test ends; close what
// uses it in a cleanup registered after this call.
func DSN(t testing.TB, dialect string) string {
	t.Helper()
	SkipUnavailable(t, dialect)
	switch dialect {
	case "sqlite":
		return "sqlite:" + filepath.Join(t.TempDir(), "tmf.db")
	case "postgres":
		return postgresDSN(t, os.Getenv(EnvPostgres))
	case "mysql":
		return mysqlDSN(t, os.Getenv(EnvMySQL))
	}
	t.Fatalf("testdb: unknown dialect %q", dialect)
	return ""
}

func postgresDSN(t testing.TB, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("testdb: %s must be a postgres:// URL: %v", EnvPostgres, err)
	}
	schema := "tmf_t_" + random()
	admin := adminExec(t, "pgx", base, `CREATE SCHEMA "`+schema+`"`)
	t.Cleanup(func() { cleanup(t, admin, `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`) })
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func mysqlDSN(t testing.TB, base string) string {
	t.Helper()
	cfg, err := mysqldriver.ParseDSN(strings.TrimPrefix(base, "mysql://"))
	if err != nil {
		t.Fatalf("testdb: %s: %v", EnvMySQL, err)
	}
	name := "tmf_t_" + random()
	admin := adminExec(t, "mysql", cfg.FormatDSN(), "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	t.Cleanup(func() { cleanup(t, admin, "DROP DATABASE IF EXISTS `"+name+"`") })
	cfg.DBName = name
	return "mysql://" + cfg.FormatDSN()
}

// adminExec runs stmt on a one-connection pool kept for the cleanup.
func adminExec(t testing.TB, driver, dsn, stmt string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("testdb: open %s: %v", driver, err)
	}
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		_ = db.Close()
		t.Fatalf("testdb: %s: %v", stmt, err)
	}
	return db
}

func cleanup(t testing.TB, db *sql.DB, stmt string) {
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		t.Errorf("testdb: %s: %v", stmt, err)
	}
}

func random() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
