package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// openTwo opens two migrated stores on one fresh database, as two tmfd
// processes would, and waits until both follow changes.
func openTwo(t *testing.T, dialect string) (a, b *store.Store) {
	t.Helper()
	dsn := storetest.NewDatabase(t, dialect)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out [2]*store.Store
	for i := range out {
		s, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		out[i] = s
	}
	for _, s := range out {
		eventually(t, "the store follows changes", func() bool { return s.Changes().Following() })
	}
	return out[0], out[1]
}

// eventually polls cond until it holds, failing after a generous deadline
// (the bound it checks is far shorter; the deadline only absorbs a loaded
// machine).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// statements is how many statements fn sent.
func statements(fn func(ctx context.Context)) int {
	ctx, c := store.CountStatements(context.Background())
	fn(ctx)
	return c.Statements()
}

// A change made through one store is seen through the other: at once by
// the store that made it, within the documented bound by the other; a warm
// cache answers without the database.
func TestCachesStayCoherentAcrossStoresOnOneDatabase(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		a, b := openTwo(t, dialect)
		ctx := t.Context()
		if err := a.PutSKU(ctx, store.SKU{SKU: "kettle", Title: "Kettle", Price: 4500, Currency: "CNY"}); err != nil {
			t.Fatal(err)
		}
		price := func(s *store.Store) int64 {
			got, err := s.GetSKUs(ctx, []string{"kettle"})
			if err != nil {
				t.Fatal(err)
			}
			return got["kettle"].Price
		}
		if price(a) != 4500 || price(b) != 4500 {
			t.Fatalf("prices %d and %d; want 4500", price(a), price(b))
		}
		// A store's own notification may arrive after its read and
		// invalidate once more: the cache warms again.
		for _, s := range []*store.Store{a, b} {
			eventually(t, "a warm SKU cache answers alone", func() bool {
				return statements(func(ctx context.Context) { _, _ = s.GetSKUs(ctx, []string{"kettle"}) }) == 0
			})
		}

		if err := a.PutSKU(ctx, store.SKU{SKU: "kettle", Title: "Kettle", Price: 3900, Currency: "CNY"}); err != nil {
			t.Fatal(err)
		}
		if got := price(a); got != 3900 {
			t.Fatalf("the writer sees %d after its own change; want 3900 at once", got)
		}
		eventually(t, "the other store sees the new price", func() bool { return price(b) == 3900 })

		// Stock locations: a new one is listed by both.
		locations := func(s *store.Store) []string {
			ls, err := stock.Locations(ctx, s.DB(ctx))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, l := range ls {
				names = append(names, l.Name)
			}
			return names
		}
		eventually(t, "a warm location cache answers alone", func() bool {
			return statements(func(ctx context.Context) { _, _ = stock.Locations(ctx, b.DB(ctx)) }) == 0
		})
		if err := a.Tx(ctx, func(tx *gorm.DB) error {
			return stock.PutLocation(ctx, tx, stock.Location{Name: "north", Priority: 5})
		}); err != nil {
			t.Fatal(err)
		}
		if got := locations(a); !slices.Contains(got, "north") {
			t.Fatalf("the writer lists %v after its own change; want north at once", got)
		}
		eventually(t, "the other store lists the new location", func() bool { return slices.Contains(locations(b), "north") })
	})
}

// A token is never served from a cache: once rotated through one store,
// the old token finds no principal through the other, at once.
func TestARotatedTokenStopsAtOnceOnEveryStore(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		a, b := openTwo(t, dialect)
		ctx := t.Context()
		if err := a.CreatePrincipal(ctx, store.Principal{ID: "alice", Roles: "buyer", TokenHash: "old-hash"}); err != nil {
			t.Fatal(err)
		}
		for range 3 { // warm whatever could be warmed
			if _, err := b.PrincipalByTokenHash(ctx, "old-hash"); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.RotatePrincipalToken(ctx, "alice", "new-hash", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := b.PrincipalByTokenHash(ctx, "old-hash"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the old token on the other store: %v; want ErrNotFound at once", err)
		}
		if p, err := b.PrincipalByTokenHash(ctx, "new-hash"); err != nil || p.ID != "alice" {
			t.Fatalf("the new token on the other store: %v %v", p, err)
		}
	})
}
