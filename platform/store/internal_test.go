package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

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

// AuditStock must notice every kind of corruption; the public API cannot
// corrupt stock, so these tests write the tables directly.
func TestAuditStockFindsCorruption(t *testing.T) {
	cases := []struct {
		name    string
		corrupt string
		want    []string // bucket: problem prefix
	}{
		{"sellable raised", "UPDATE tmf_stock_levels SET sellable = sellable + 1",
			[]string{"sellable: differs", "total: put in differs"}},
		{"reserved moved to frozen without a move", "UPDATE tmf_stock_levels SET reserved = reserved - 2, frozen = frozen + 2",
			[]string{"frozen: differs", "reserved: differs"}},
		{"negative shipped", "UPDATE tmf_stock_levels SET shipped = -1, sellable = sellable + 1",
			[]string{"sellable: differs", "shipped: negative"}},
		{"move without level", "DELETE FROM tmf_stock_levels",
			[]string{"total: moves"}},
	}
	eachDialect(t, func(t *testing.T, dialect string) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := openInternal(t, dialect)
				ctx := context.Background()
				if _, err := s.SetSellable(ctx, "sku1", "wh1", 10, "initial"); err != nil {
					t.Fatal(err)
				}
				err := s.CreateOrder(ctx, NewOrder{Order: Order{ID: "o1", Status: "created"},
					Reservations: []Reservation{{SKU: "sku1", Location: "wh1", Quantity: 3}}})
				if err != nil {
					t.Fatal(err)
				}
				if d, err := s.AuditStock(ctx); err != nil || len(d) != 0 {
					t.Fatalf("before corruption: %v, %v", d, err)
				}
				if err := s.db.Exec(c.corrupt).Error; err != nil {
					t.Fatal(err)
				}
				got, err := s.AuditStock(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var gotS []string
				for _, d := range got {
					gotS = append(gotS, d.Bucket+": "+d.Problem)
				}
				if len(gotS) != len(c.want) {
					t.Fatalf("discrepancies %q, want %q", gotS, c.want)
				}
				for i := range c.want {
					if !strings.HasPrefix(gotS[i], c.want[i]) {
						t.Errorf("discrepancy %d = %q, want prefix %q", i, gotS[i], c.want[i])
					}
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
