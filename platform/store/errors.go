package store

import (
	"errors"
	"fmt"

	gosqlite "github.com/glebarez/go-sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrNotFound: the order, SKU, principal, event or record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate: a row with the same identity already exists (an order id,
	// a principal id or token).
	ErrDuplicate = errors.New("store: duplicate")
	// ErrVersionConflict: the order exists but its version is not the one the
	// transition expected; reload and decide again.
	ErrVersionConflict = errors.New("store: version conflict")
	// ErrInvalid: the arguments break a precondition (empty or oversized key,
	// non-positive quantity, a return of no line).
	ErrInvalid = errors.New("store: invalid argument")
)

// isDuplicateKey reports whether err is a unique or primary-key violation:
// PostgreSQL 23505, MySQL 1062, SQLite SQLITE_CONSTRAINT_UNIQUE/PRIMARYKEY.
func isDuplicateKey(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	var my *mysqldriver.MySQLError
	if errors.As(err, &my) {
		return my.Number == 1062
	}
	var lite *gosqlite.Error
	if errors.As(err, &lite) {
		const constraintUnique, constraintPrimaryKey = 2067, 1555
		return lite.Code() == constraintUnique || lite.Code() == constraintPrimaryKey
	}
	return false
}

// isRetryable reports whether a transaction failed only because it lost a
// race the database resolved by aborting it, so running it again is safe:
// PostgreSQL deadlock (40P01) or serialization failure (40001), MySQL
// deadlock (1213).
func isRetryable(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "40P01" || pg.Code == "40001"
	}
	var my *mysqldriver.MySQLError
	if errors.As(err, &my) {
		return my.Number == 1213
	}
	return false
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func checkKey(what, v string, max int) error {
	if v == "" {
		return invalid("empty %s", what)
	}
	if len(v) > max {
		return invalid("%s %.20q… longer than %d bytes", what, v, max)
	}
	return nil
}
