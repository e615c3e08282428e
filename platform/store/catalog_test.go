package store_test

import (
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

func TestSKUs(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		put := []store.SKU{
			{SKU: "tea-1", Title: "龙井茶 🍵 250g", Price: 12800, Currency: "CNY", Category: "tea", WeightGrams: 300},
			{SKU: "topup-50", Title: "Mobile top-up 50", Price: 5000, Currency: "CNY", Category: "topup", Virtual: true},
		}
		for _, k := range put {
			if err := s.PutSKU(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GetSKU(ctx, "tea-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.UpdatedAt.IsZero() || got.UpdatedAt.Location() != time.UTC {
			t.Errorf("updated at %v, want set, in UTC", got.UpdatedAt)
		}
		got.UpdatedAt = time.Time{}
		deepEqual(t, "sku", got, put[0])

		changed := put[0]
		changed.Price, changed.Title = 9900, "龙井茶 (sale)"
		if err := s.PutSKU(ctx, changed); err != nil {
			t.Fatal(err)
		}
		many, err := s.GetSKUs(ctx, []string{"tea-1", "topup-50", "missing"})
		if err != nil {
			t.Fatal(err)
		}
		if len(many) != 2 || many["tea-1"].Price != 9900 || many["tea-1"].Title != changed.Title || !many["topup-50"].Virtual {
			t.Errorf("skus = %+v", many)
		}
		if none, err := s.GetSKUs(ctx, nil); err != nil || len(none) != 0 {
			t.Errorf("no skus = %v, %v", none, err)
		}
		_, err = s.GetSKU(ctx, "missing")
		wantErrIs(t, err, store.ErrNotFound)
		wantErrIs(t, s.PutSKU(ctx, store.SKU{}), store.ErrInvalid)
	})
}

// The store's migration creates the stock domain's tables, and the domain's
// operator functions run in the store's transactions and handle: locations
// listed highest priority first, levels by SKU then location. (What the
// store kept of stock before the domain took its tables; the domain's own
// tests cover the rest.)
func TestStockLocationsAndLevelsInTheStore(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		tx := func(fn func(tx *gorm.DB) error) {
			t.Helper()
			if err := s.Tx(ctx, fn); err != nil {
				t.Fatal(err)
			}
		}
		tx(func(tx *gorm.DB) error {
			for _, l := range []stock.Location{
				{Name: "hz", Regions: "zhejiang, jiangsu", Priority: 5},
				{Name: "bj", Regions: "beijing", Priority: 5},
				{Name: "sh", Priority: 9},
				{Name: "sh", Regions: "shanghai", Priority: 1}, // replaces the first
			} {
				if err := stock.PutLocation(ctx, tx, l); err != nil {
					return err
				}
			}
			return nil
		})
		// SetSellable creates an unknown location with priority 0, everywhere.
		var lvl stock.Level
		tx(func(tx *gorm.DB) error {
			var err error
			lvl, err = stock.SetSellable(ctx, tx, "b-sku", "new", 5, "first delivery")
			return err
		})
		if lvl.Sellable != 5 || lvl.SKU != "b-sku" || lvl.Location != "new" {
			t.Errorf("level = %+v", lvl)
		}
		locs, err := stock.Locations(ctx, s.DB(ctx))
		if err != nil {
			t.Fatal(err)
		}
		deepEqual(t, "locations, highest priority first", locs, []stock.Location{
			{Name: "bj", Regions: "beijing", Priority: 5}, {Name: "hz", Regions: "zhejiang,jiangsu", Priority: 5},
			{Name: "sh", Regions: "shanghai", Priority: 1}, {Name: "new"},
		})

		steps := []struct {
			sku, loc string
			sellable int64
		}{
			{"a-sku", "sh", 10}, {"a-sku", "hz", 3}, {"a-sku", "sh", 4}, {"a-sku", "sh", 4}, {"c-sku", "bj", 0}, {"a-sku", "hz", 8},
		}
		for _, st := range steps {
			tx(func(tx *gorm.DB) error {
				_, err := stock.SetSellable(ctx, tx, st.sku, st.loc, st.sellable, "count")
				return err
			})
		}
		levels, err := stock.Levels(ctx, s.DB(ctx), "a-sku", "b-sku")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range levels {
			got = append(got, l.SKU+"@"+l.Location)
			if l.UpdatedAt.IsZero() {
				t.Errorf("level %s@%s without updated_at", l.SKU, l.Location)
			}
		}
		deepEqual(t, "levels, by sku then location", got, []string{"a-sku@hz", "a-sku@sh", "b-sku@new"})
		if levels[0].Sellable != 8 || levels[1].Sellable != 4 {
			t.Errorf("sellable = %d, %d; want 8, 4", levels[0].Sellable, levels[1].Sellable)
		}
		all, _ := stock.Levels(ctx, s.DB(ctx))
		if len(all) != 4 {
			t.Errorf("all levels = %d, want 4", len(all))
		}
		err = s.Tx(ctx, func(tx *gorm.DB) error {
			_, err := stock.SetSellable(ctx, tx, "a-sku", "sh", -1, "oops")
			return err
		})
		wantErrIs(t, err, stock.ErrInvalid)
		wantSound(t, s)
	})
}
