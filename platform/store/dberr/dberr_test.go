package dberr_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tmf-platform/tmf/platform/store/dberr"
)

func TestClassification(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("store: create order o-1: %w", err) }
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name              string
		err               error
		lost, unavailable bool
		retryable         bool
	}{
		{"nil", nil, false, false, false},
		{"plain error", errors.New("boom"), false, false, false},
		{"bad connection", wrap(driver.ErrBadConn), true, true, false},
		{"connection done", wrap(sql.ErrConnDone), true, true, false},
		{"closed pool", errors.New("sql: database is closed"), true, true, false},
		{"connection refused", wrap(refused), true, true, false},
		{"connection reset", wrap(syscall.ECONNRESET), true, true, false},
		{"broken pipe", wrap(syscall.EPIPE), true, true, false},
		{"unexpected EOF", wrap(io.ErrUnexpectedEOF), true, true, false},
		{"pgx conn closed", wrap(pgconn.ErrConnClosed), true, true, false},
		{"pg connection failure 08006", &pgconn.PgError{Code: "08006"}, true, true, false},
		{"pg admin shutdown 57P01", wrap(&pgconn.PgError{Code: "57P01"}), true, true, false},
		{"pg crash shutdown 57P02", &pgconn.PgError{Code: "57P02"}, true, true, false},
		{"pg cannot connect now 57P03", &pgconn.PgError{Code: "57P03"}, true, true, false},
		{"pg disk full 53100", &pgconn.PgError{Code: "53100"}, false, true, false},
		{"pg too many connections 53300", &pgconn.PgError{Code: "53300"}, false, true, false},
		{"pg unique violation", &pgconn.PgError{Code: "23505"}, false, false, false},
		{"pg deadlock", &pgconn.PgError{Code: "40P01"}, false, false, true},
		{"pg serialization failure", &pgconn.PgError{Code: "40001"}, false, false, true},
		{"mysql invalid connection", wrap(mysqldriver.ErrInvalidConn), true, true, false},
		{"mysql too many connections 1040", &mysqldriver.MySQLError{Number: 1040}, false, true, false},
		{"mysql shutdown 1053", &mysqldriver.MySQLError{Number: 1053}, true, true, false},
		{"mysql cannot connect 2002", &mysqldriver.MySQLError{Number: 2002}, true, true, false},
		{"mysql server gone 2006", &mysqldriver.MySQLError{Number: 2006}, true, true, false},
		{"mysql lost connection 2013", &mysqldriver.MySQLError{Number: 2013}, true, true, false},
		{"mysql duplicate", &mysqldriver.MySQLError{Number: 1062}, false, false, false},
		{"mysql deadlock", &mysqldriver.MySQLError{Number: 1213}, false, false, true},
		{"sqlite busy as text", errors.New("database is locked (5) (SQLITE_BUSY)"), false, true, false},
		{"sqlite full as text", errors.New("database or disk is full (13)"), false, true, false},
		{"sqlite io error as text", errors.New("disk I/O error (10)"), false, true, false},
		{"deadline waiting for a connection", wrap(context.DeadlineExceeded), false, true, false},
		{"caller gone", wrap(context.Canceled), false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dberr.ConnectionLost(tc.err); got != tc.lost {
				t.Errorf("ConnectionLost = %v, want %v", got, tc.lost)
			}
			if got := dberr.Unavailable(tc.err); got != tc.unavailable {
				t.Errorf("Unavailable = %v, want %v", got, tc.unavailable)
			}
			if got := dberr.Retryable(tc.err); got != tc.retryable {
				t.Errorf("Retryable = %v, want %v", got, tc.retryable)
			}
			if got := dberr.LostBeforeCommit(tc.err, false); got != tc.lost {
				t.Errorf("LostBeforeCommit(before commit) = %v, want %v", got, tc.lost)
			}
			// A connection lost while committing leaves the outcome unknown.
			if dberr.LostBeforeCommit(tc.err, true) {
				t.Error("LostBeforeCommit(while committing) = true")
			}
		})
	}
}
