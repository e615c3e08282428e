package store_test

import (
	"os"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Two processes starting at once both migrate, and again on restart.
func TestMigrateConcurrentlyAndTwice(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		dsn := storetest.NewDatabase(t, dialect)
		var stores [2]*store.Store
		for i := range stores {
			s, err := store.Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			stores[i] = s
		}
		for round := range 2 {
			var wg sync.WaitGroup
			for i, s := range stores {
				wg.Go(func() {
					if err := s.Migrate(t.Context()); err != nil {
						t.Errorf("round %d, store %d: %v", round, i, err)
					}
				})
			}
			wg.Wait()
		}
		seed(t, stores[0], "sku1", 3)
		mustCreate(t, stores[1], newOrder("o-1", reserve("sku1", 1)))
		wantStock(t, stores[0], "sku1", buckets{2, 1, 0, 0})
		wantSound(t, stores[1])
		if err := stores[0].Ping(t.Context()); err != nil {
			t.Error(err)
		}
		if stores[0].Dialect() != dialect {
			t.Errorf("dialect %q, want %q", stores[0].Dialect(), dialect)
		}
	})
}

// Migrate creates the domains' tables beside the store's, so that an order
// and its stock, coupons and credit commit in one transaction.
func TestMigrateCreatesTheDomainsTables(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		m := s.DB(t.Context()).Migrator()
		for _, models := range [][]any{
			{&store.SKU{}, &store.Order{}, &store.OrderLine{}, &store.OrderHistory{}, &store.OrderReturn{}, &store.OrderTrace{},
				&store.OutboxEvent{}, &store.IdempotencyRecord{}, &store.Principal{}},
			stock.Models(), promotion.Models(), payment.Models(),
		} {
			for _, model := range models {
				if !m.HasTable(model) {
					t.Errorf("no table for %T", model)
				}
			}
		}
	})
}

// widget is a table of a package the store does not know.
type widget struct {
	ID   string `gorm:"primaryKey;size:40"`
	Name string `gorm:"size:64;not null;index:idx_tmf_test_widgets_name"`
	Size int64  `gorm:"not null"`
}

func (widget) TableName() string { return "tmf_test_widgets" }

// MigrateModels migrates another package's tables, again without harm and
// from two stores at once; Tx commits what fn wrote and rolls back on error.
func TestMigrateModelsAndTx(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		dsn := storetest.NewDatabase(t, dialect)
		var stores [2]*store.Store
		for i := range stores {
			st, err := store.Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			stores[i] = st
		}
		s, ctx := stores[0], t.Context()
		var wg sync.WaitGroup
		for _, st := range stores {
			wg.Go(func() {
				if err := st.MigrateModels(ctx, &widget{}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if err := s.MigrateModels(ctx, &widget{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Tx(ctx, func(tx *gorm.DB) error { return tx.Create(&widget{ID: "w1", Name: "kept", Size: 1}).Error }); err != nil {
			t.Fatal(err)
		}
		err := s.Tx(ctx, func(tx *gorm.DB) error {
			if err := tx.Create(&widget{ID: "w2", Name: "rolled back", Size: 2}).Error; err != nil {
				return err
			}
			return errBoom
		})
		wantErrIs(t, err, errBoom)
		var got []widget
		if err := s.DB(ctx).Order("id").Find(&got).Error; err != nil {
			t.Fatal(err)
		}
		deepEqual(t, "widgets", got, []widget{{ID: "w1", Name: "kept", Size: 1}})
	})
}

// An empty DSN is the embedded default: SQLite in ./data/tmf.db.
func TestOpenDefaultIsSQLiteInData(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := store.Open(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Dialect() != store.SQLite {
		t.Errorf("dialect %q", s.Dialect())
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("data/tmf.db"); err != nil {
		t.Error(err)
	}
}

func TestOpenRefusesUnknownDSN(t *testing.T) {
	t.Parallel()
	if _, err := store.Open(t.Context(), "oracle://scott:tiger@db/orcl"); err == nil {
		t.Fatal("opened an oracle DSN")
	}
}
