// Package dberr classifies the errors of the three databases the platform
// runs on (SQLite through glebarez/go-sqlite, PostgreSQL through pgx,
// MySQL and MariaDB through go-sql-driver) by what a caller can do about
// them. It is the one place that knows driver error codes: the store's
// IsUnavailable and IsRetryable and the domains' transaction helper
// (domains/internal/dbutil) all ask it. It imports no package of the
// module, so that the domains, which the store imports, may use it too.
package dberr

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	gosqlite "github.com/glebarez/go-sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// SQLite result codes (the primary code is the low byte of an extended one).
const (
	sqliteBusy     = 5
	sqliteLocked   = 6
	sqliteNoMem    = 7
	sqliteReadOnly = 8
	sqliteIOErr    = 10
	sqliteFull     = 13
	sqliteCantOpen = 14
)

// MySQL and MariaDB error numbers: server errors, and the client errors
// (2xxx) that other clients and proxies report.
const (
	myTooManyConnections = 1040
	myServerShutdown     = 1053
	myConnectionFailed   = 2002
	myServerGone         = 2006
	myLostConnection     = 2013
	myDeadlock           = 1213
)

// Retryable reports whether the database aborted a transaction only to
// break a deadlock or a serialisation conflict, so that running it again
// is right: PostgreSQL 40P01 or 40001, MySQL 1213.
func Retryable(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "40P01" || pg.Code == "40001"
	}
	var my *mysqldriver.MySQLError
	if errors.As(err, &my) {
		return my.Number == myDeadlock
	}
	return false
}

// ConnectionLost reports whether err says that the connection to the
// server broke or was closed under the statement: reset, refused, a broken
// pipe, an unexpected end of the stream, the server terminating the
// session (PostgreSQL 57P01 to 57P03, class 08; MySQL 1053, 2006, 2013),
// or database/sql's and the drivers' "bad connection". A transaction that
// saw this before COMMIT was sent did not commit (the server rolls back a
// session it loses); one that saw it from COMMIT may have.
func ConnectionLost(err error) bool {
	// A context that ended is the caller's doing (and a context error is
	// a net.Error): never a connection the server lost.
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return strings.HasPrefix(pg.Code, "08") || pg.Code == "57P01" || pg.Code == "57P02" || pg.Code == "57P03"
	}
	var my *mysqldriver.MySQLError
	if errors.As(err, &my) {
		switch my.Number {
		case myServerShutdown, myConnectionFailed, myServerGone, myLostConnection:
			return true
		}
		return false
	}
	var connect *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, mysqldriver.ErrInvalidConn), errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &connect), errors.As(err, &netErr):
		return true
	}
	// database/sql's own error for a pool that was closed is not exported.
	return strings.Contains(err.Error(), "sql: database is closed")
}

// Unavailable reports whether err says that the database cannot serve
// now, through no fault of the request: the connection was lost or could
// not be made (ConnectionLost), no connection came before the deadline,
// the server is shutting down, out of connections, memory or disk
// (PostgreSQL class 53, MySQL 1040), or SQLite's file is locked past the
// busy timeout, read-only, full or failing (SQLITE_BUSY, SQLITE_LOCKED,
// SQLITE_READONLY, SQLITE_FULL, SQLITE_IOERR, SQLITE_CANTOPEN,
// SQLITE_NOMEM). Trying again later may succeed; the same request at once
// probably not.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if ConnectionLost(err) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return strings.HasPrefix(pg.Code, "53")
	}
	var my *mysqldriver.MySQLError
	if errors.As(err, &my) {
		return my.Number == myTooManyConnections
	}
	var lite *gosqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case sqliteBusy, sqliteLocked, sqliteNoMem, sqliteReadOnly, sqliteIOErr, sqliteFull, sqliteCantOpen:
			return true
		}
		return false
	}
	// A deadline that passed while the statement waited for a connection
	// (database/sql returns the context's error as is) or for the server.
	// A cancelled context is the caller leaving, not the database failing.
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	// gorm and database/sql may flatten a driver error to its text.
	msg := err.Error()
	for _, s := range []string{"database is locked", "database table is locked", "database or disk is full",
		"disk I/O error", "attempt to write a readonly database", "unable to open database file"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// LostBeforeCommit reports whether a transaction that failed with err may
// simply run again because its connection was lost before COMMIT was sent
// (committing false: while it began or ran its statements). The server
// rolls back the transaction of a session it loses, so nothing of it was
// written. Once COMMIT was sent (committing true) a lost connection leaves
// the outcome unknown: the server may have committed and only the answer
// was lost, and running the transaction again would apply it twice (a
// second order, a second charge). Such an error goes to the caller, whose
// idempotency key or version check decides.
func LostBeforeCommit(err error, committing bool) bool {
	return !committing && ConnectionLost(err)
}
