package store

import (
	"errors"
	"fmt"

	gosqlite "github.com/glebarez/go-sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tmf-platform/tmf/platform/store/dberr"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrNotFound: the order, SKU, principal, event or record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate: a row with the same identity already exists (an order id,
	// a principal id or token).
	ErrDuplicate = errors.New("store: duplicate")
	// ErrLastAdmin: the change would leave no enabled principal with the
	// role AdminRole.
	ErrLastAdmin = errors.New("store: the last enabled admin cannot be demoted, disabled or removed")
	// ErrVersionConflict: the order exists but its version is not the one the
	// transition expected; reload and decide again.
	ErrVersionConflict = errors.New("store: version conflict")
	// ErrInvalid: the arguments break a precondition (empty or oversized key,
	// non-positive quantity, a return of no line).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrUnavailable: the database cannot serve now (connection lost or
	// refused, server shutting down or out of resources, SQLite's file
	// locked, read-only or full); trying again later may succeed. Errors of
	// Tx and ProbeWrite match it with errors.Is; for an error of any other
	// method, or of the domains' own statements, ask IsUnavailable.
	ErrUnavailable = errors.New("store: database unavailable")
)

// IsUnavailable reports whether err, from the store or from a statement on
// its DB handle, says the database cannot serve now rather than that the
// request is wrong or the server broken: see ErrUnavailable and
// dberr.Unavailable, the one table of the drivers' codes.
func IsUnavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || dberr.Unavailable(err)
}

// unavailable wraps err with ErrUnavailable when it is one, so that
// errors.Is finds the sentinel as well as the driver's error.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !dberr.Unavailable(err) {
		return err
	}
	return &unavailableError{err}
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }

func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

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
func isRetryable(err error) bool { return dberr.Retryable(err) }

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
