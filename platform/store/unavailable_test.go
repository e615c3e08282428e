package store_test

import (
	"errors"
	"fmt"
	"testing"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// txRow is a table of the transaction tests' own.
type txRow struct {
	ID string `gorm:"primaryKey;size:32"`
}

func (txRow) TableName() string { return "tmf_test_tx_rows" }

// A transaction whose connection the server dropped before COMMIT runs
// once more on a fresh connection and commits once; a second drop is
// answered as unavailable, not run a third time.
func TestTxRunsAgainAfterConnectionLostBeforeCommit(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{store.Postgres, store.MySQL} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, dialect)
			ctx := t.Context()
			if err := s.MigrateModels(ctx, &txRow{}); err != nil {
				t.Fatal(err)
			}
			runs := 0
			err := s.Tx(ctx, func(tx *gorm.DB) error {
				runs++
				if err := tx.Create(&txRow{ID: "a"}).Error; err != nil {
					return err
				}
				if runs == 1 {
					storetest.KillSession(t, s, tx)
				}
				return tx.Create(&txRow{ID: "b"}).Error
			})
			if err != nil || runs != 2 {
				t.Fatalf("Tx = %v after %d runs; want success after 2", err, runs)
			}
			var ids []string
			if err := s.DB(ctx).Model(&txRow{}).Order("id").Pluck("id", &ids).Error; err != nil {
				t.Fatal(err)
			}
			if len(ids) != 2 || ids[0] != "a" || ids[1] != "b" {
				t.Fatalf("rows = %v, want [a b] once", ids)
			}

			runs = 0
			err = s.Tx(ctx, func(tx *gorm.DB) error {
				runs++
				storetest.KillSession(t, s, tx)
				return tx.Create(&txRow{ID: "c"}).Error
			})
			if runs != 2 || !errors.Is(err, store.ErrUnavailable) || !store.IsUnavailable(err) {
				t.Fatalf("Tx with every connection dropped = %v after %d runs; want ErrUnavailable after 2", err, runs)
			}
		})
	}
}

// SQLite's own refusals of a write, caused here as root can: a connection
// in query_only mode (what a read-only file answers) and a page limit the
// table has reached (what a full disk answers).
func TestSQLiteRefusalsAreUnavailable(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, store.SQLite)
	ctx := t.Context()
	if err := s.MigrateModels(ctx, &txRow{}); err != nil {
		t.Fatal(err)
	}
	db := s.DB(ctx) // the store's one connection: a pragma holds for every later statement
	if err := db.Exec("PRAGMA query_only = 1").Error; err != nil {
		t.Fatal(err)
	}
	err := db.Create(&txRow{ID: "ro"}).Error
	if !store.IsUnavailable(err) {
		t.Errorf("write to a read-only database: %v; want unavailable", err)
	}
	if err := db.Exec("PRAGMA query_only = 0").Error; err != nil {
		t.Fatal(err)
	}

	var pages int64
	if err := db.Raw("PRAGMA page_count").Scan(&pages).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+1)).Error; err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		err = db.Create(&txRow{ID: fmt.Sprintf("%032d", i)}).Error
		if err != nil || i > 10000 {
			break
		}
	}
	if !store.IsUnavailable(err) {
		t.Errorf("write to a full database: %v; want unavailable", err)
	}
}

// The write probe commits a row per node, again and again; a store that
// cannot write answers ErrUnavailable.
func TestProbeWrite(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		for _, node := range []string{"host-a/127.0.0.1:8080", "host-b/127.0.0.1:8080", "host-a/127.0.0.1:8080"} {
			if err := s.ProbeWrite(ctx, node); err != nil {
				t.Fatal(err)
			}
		}
		var n int64
		if err := s.DB(ctx).Table("tmf_ready_probe").Count(&n).Error; err != nil || n != 2 {
			t.Fatalf("probe rows = %d, %v; want 2", n, err)
		}
		wantErrIs(t, s.ProbeWrite(ctx, ""), store.ErrInvalid)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wantErrIs(t, s.ProbeWrite(ctx, "host-a"), store.ErrUnavailable)
	})
}
