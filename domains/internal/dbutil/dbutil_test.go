package dbutil_test

import (
	"errors"
	"fmt"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/internal/dbutil"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// entry has an auto-increment key and a unique key, like the domains'
// ledgers: the case where MariaDB's RETURNING once made a duplicate look
// inserted.
type entry struct {
	ID  int64  `gorm:"primaryKey;autoIncrement"`
	Key string `gorm:"size:64;not null;uniqueIndex:uix_tmf_dbutil_entries_key"`
}

func (entry) TableName() string { return "tmf_dbutil_entries" }

func TestInsertOnceTellsDuplicates(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		if err := s.MigrateModels(ctx, &entry{}); err != nil {
			t.Fatal(err)
		}
		for i, want := range []bool{true, false, false} {
			got, err := dbutil.InsertOnce(s.DB(ctx), &entry{Key: "k"})
			if err != nil || got != want {
				t.Fatalf("insert %d: inserted = %v, %v; want %v", i+1, got, err, want)
			}
		}
		var n int64
		if err := s.DB(ctx).Model(&entry{}).Count(&n).Error; err != nil || n != 1 {
			t.Fatalf("rows = %d, %v; want 1", n, err)
		}
	})
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"postgres deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"postgres serialization failure", fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "40001"}), true},
		{"postgres unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"mysql deadlock", &mysqldriver.MySQLError{Number: 1213}, true},
		{"mysql duplicate key", &mysqldriver.MySQLError{Number: 1062}, false},
		{"sqlite busy", errors.New("database is locked (5) (SQLITE_BUSY)"), true},
		{"other", errors.New("refused"), false},
		{"nil", nil, false},
	} {
		if got := dbutil.Retryable(tc.err); got != tc.want {
			t.Errorf("%s: Retryable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A domain transaction whose connection the server dropped before COMMIT
// runs once more on a fresh connection; a second drop is the caller's.
func TestRunTxRunsAgainAfterConnectionLost(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{store.Postgres, store.MySQL} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, dialect)
			ctx := t.Context()
			if err := s.MigrateModels(ctx, &entry{}); err != nil {
				t.Fatal(err)
			}
			runs := 0
			err := dbutil.RunTx(ctx, s.DB(ctx), 3, func(tx *gorm.DB) error {
				runs++
				if runs == 1 {
					storetest.KillSession(t, s, tx)
				}
				return tx.Create(&entry{Key: "k"}).Error
			})
			var n int64
			if cerr := s.DB(ctx).Model(&entry{}).Count(&n).Error; err != nil || cerr != nil || runs != 2 || n != 1 {
				t.Fatalf("RunTx = %v after %d runs, %d rows (%v); want success after 2, 1 row", err, runs, n, cerr)
			}
			runs = 0
			err = dbutil.RunTx(ctx, s.DB(ctx), 3, func(tx *gorm.DB) error {
				runs++
				storetest.KillSession(t, s, tx)
				return tx.Create(&entry{Key: "k2"}).Error
			})
			if err == nil || runs != 2 || !store.IsUnavailable(err) {
				t.Fatalf("RunTx with every connection dropped = %v after %d runs; want unavailable after 2", err, runs)
			}
		})
	}
}
