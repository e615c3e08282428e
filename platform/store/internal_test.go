package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tmf-platform/tmf/platform/store/internal/testdb"
)

// These tests reach inside the store (its *gorm.DB), so they cannot use
// package storetest, which imports this one; testdb gives them the same
// isolated databases.

func openInternal(t *testing.T, dialect string) *Store {
	t.Helper()
	dsn := testdb.DSN(t, dialect)
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func eachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range testdb.Dialects() {
		t.Run(d, func(t *testing.T) {
			testdb.SkipUnavailable(t, d)
			t.Parallel()
			fn(t, d)
		})
	}
}

// statementLog records the SQL gorm runs.
type statementLog struct {
	logger.Interface
	mu   sync.Mutex
	sqls []string
}

func (l *statementLog) LogMode(logger.LogLevel) logger.Interface { return l }
func (l *statementLog) Trace(_ context.Context, _ time.Time, fc func() (string, int64), _ error) {
	sql, _ := fc()
	l.mu.Lock()
	l.sqls = append(l.sqls, sql)
	l.mu.Unlock()
}

// A second Migrate must find the schema as the models want it and change
// nothing: an ALTER on every start would lock tables in production.
func TestMigrateAgainRunsNoDDL(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		s := openInternal(t, dialect)
		log := &statementLog{Interface: logger.Discard}
		s.db.Logger = log
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, sql := range log.sqls {
			upper := strings.ToUpper(strings.TrimSpace(sql))
			for _, ddl := range []string{"CREATE ", "ALTER ", "DROP "} {
				if strings.HasPrefix(upper, ddl) {
					t.Errorf("second migration ran DDL: %s", sql)
				}
			}
		}
	})
}

// isRetryable must pick out exactly the aborts that are safe to run again:
// a deadlock or serialisation failure, wherever it sits in the chain.
func TestIsRetryable(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"postgres deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"postgres serialization failure", &pgconn.PgError{Code: "40001"}, true},
		{"postgres deadlock, wrapped by a step", fmt.Errorf("stock: reserve: %w", &pgconn.PgError{Code: "40P01"}), true},
		{"postgres unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"mysql deadlock", &mysqldriver.MySQLError{Number: 1213}, true},
		{"mysql duplicate key", &mysqldriver.MySQLError{Number: 1062}, false},
		{"mysql lock wait timeout", &mysqldriver.MySQLError{Number: 1205}, false},
		{"a message is not a code", errors.New("deadlock detected"), false},
		{"nil", nil, false},
	}
	for _, c := range cases {
		if got := isRetryable(c.err); got != c.want {
			t.Errorf("%s: isRetryable = %v, want %v", c.name, got, c.want)
		}
	}
}

// A transaction the database aborted to break a deadlock runs again, whole,
// at most maxTxAttempts times in all: the order and a step's writes are there once
// when a later run succeeds, and not at all when every run fails. Other
// errors are not retried.
func TestCreateOrderRetriesADeadlockedTransaction(t *testing.T) {
	deadlock := &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}
	cases := []struct {
		name     string
		failures int   // how many runs the step fails
		err      error // with what
		runs     int
		written  bool
	}{
		{"one deadlock, then success", 1, deadlock, 2, true},
		{"two deadlocks, then success", 2, deadlock, 3, true},
		{"four deadlocks, then success", 4, deadlock, 5, true},
		{"deadlocked every time", 9, deadlock, maxTxAttempts, false},
		{"a mysql deadlock", 1, &mysqldriver.MySQLError{Number: 1213, Message: "Deadlock found"}, 2, true},
		{"not retryable", 1, errors.New("refused"), 1, false},
	}
	eachDialect(t, func(t *testing.T, dialect string) {
		s := openInternal(t, dialect)
		ctx := context.Background()
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				id := fmt.Sprint("o-", i)
				runs := 0
				err := s.CreateOrder(ctx, NewOrder{
					Order:  Order{ID: id, Status: "created", Lines: []OrderLine{{SKU: "x", Quantity: 1}}},
					Events: []OutboxEvent{{Topic: "order.created", Payload: "{}"}},
					Steps: []Step{
						func(ctx context.Context, tx *gorm.DB) error { // a domain's write, undone with each failed run
							return tx.Create(&Principal{ID: "p-" + id, Roles: "r", TokenHash: "t-" + id}).Error
						},
						func(context.Context, *gorm.DB) error {
							runs++
							if runs <= c.failures {
								return fmt.Errorf("a step: %w", c.err)
							}
							return nil
						},
					},
				})
				if runs != c.runs {
					t.Errorf("the transaction ran %d times, want %d", runs, c.runs)
				}
				if (err == nil) != c.written || err != nil && !errors.Is(err, c.err) {
					t.Errorf("error = %v, want written %v", err, c.written)
				}
				var orders, lines, events, principals int64
				for _, q := range []struct {
					model any
					where string
					arg   string
					n     *int64
				}{
					{&Order{}, "id = ?", id, &orders},
					{&OrderLine{}, "order_id = ?", id, &lines},
					{&OutboxEvent{}, "aggregate_id = ?", id, &events},
					{&Principal{}, "id = ?", "p-" + id, &principals},
				} {
					if err := s.db.Model(q.model).Where(q.where, q.arg).Count(q.n).Error; err != nil {
						t.Fatal(err)
					}
				}
				want := int64(0)
				if c.written {
					want = 1
				}
				if orders != want || lines != want || events != want || principals != want {
					t.Errorf("%d orders, %d lines, %d events, %d step rows; want %d of each", orders, lines, events, principals, want)
				}
			})
		}
	})
}

func TestDSNs(t *testing.T) {
	cases := []struct {
		dsn, dialect string
		bad          bool
	}{
		{"sqlite:/tmp/x/tmf.db", SQLite, false},
		{"sqlite:///tmp/x/tmf.db", SQLite, false},
		{"/tmp/x/orders.db", SQLite, false},
		{"orders.db?_pragma=cache_size(-2000)", SQLite, false},
		{"postgres://u@h/db", Postgres, false},
		{"postgresql://u@h/db?sslmode=disable", Postgres, false},
		{"mysql://root@tcp(127.0.0.1:3306)/test", MySQL, false},
		{"mysql://root@tcp(127.0.0.1:3306)/test?collation=latin1_swedish_ci", MySQL, false},
		{"mysql://root@tcp(127.0.0.1:3306)test", MySQL, true},
		{"oracle://x", "", true},
		{"sqlite:", SQLite, true},
	}
	t.Chdir(t.TempDir())
	for _, c := range cases {
		dialect, _, err := dialectorFor(c.dsn)
		if (err != nil) != c.bad || dialect != c.dialect {
			t.Errorf("dialectorFor(%q) = %q, %v; want %q, error %v", c.dsn, dialect, err, c.dialect, c.bad)
		}
	}
}

func TestMySQLDSNForcesTimeAndCharset(t *testing.T) {
	got, err := mysqlDSN("mysql://app:s3cret@tcp(db:3306)/tmf?parseTime=false&loc=Local&charset=latin1&timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"app:s3cret@tcp(db:3306)/tmf?", "parseTime=true", "collation=utf8mb4_bin", "interpolateParams=true", "timeout=5s"} {
		if !strings.Contains(got, want) {
			t.Errorf("mysqlDSN = %q, want it to contain %q", got, want)
		}
	}
	for _, unwanted := range []string{"loc=Local", "charset=latin1"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("mysqlDSN = %q, must not contain %q", got, unwanted)
		}
	}
}

func TestRedact(t *testing.T) {
	if got := redact("oracle://scott:tiger@db/x"); strings.Contains(got, "tiger") {
		t.Errorf("redact = %q", got)
	}
}

func TestIsDuplicateKeyIgnoresOtherErrors(t *testing.T) {
	if isDuplicateKey(errors.New("duplicate key value violates unique constraint")) {
		t.Error("a message is not a code")
	}
}
