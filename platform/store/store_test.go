package store_test

import (
	"os"
	"sync"
	"testing"

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
		if err := stores[0].Ping(t.Context()); err != nil {
			t.Error(err)
		}
		if stores[0].Dialect() != dialect {
			t.Errorf("dialect %q, want %q", stores[0].Dialect(), dialect)
		}
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
