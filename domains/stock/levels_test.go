package stock_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/store"
	"gorm.io/gorm"
)

// Levels gives the totals, every slot and the settings, as the API returns
// them; SetSellable returns the level it left.
func TestLevels(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		var set stock.Level
		mustTx(t, s, func(tx *gorm.DB) error {
			if _, err := stock.SetSellable(ctx, tx, "a", "w1", 10, "count"); err != nil {
				return err
			}
			if err := stock.SplitBuckets(ctx, tx, "a", "w1", 2); err != nil {
				return err
			}
			if err := stock.SetChannel(ctx, tx, stock.ChannelConfig{SKU: "a", Location: "w1", Channel: "app",
				Mode: stock.ModeMutex, Quantity: 4}); err != nil {
				return err
			}
			var err error
			set, err = stock.SetSellable(ctx, tx, "a", "w1", 12, "delivery")
			return err
		})
		// 10 split 5+5; 4 set aside from b:0; +2 spread over the buckets.
		if err := reserveOne(s, "o-1", "app", "b", "a", 1); err != nil {
			t.Fatal(err)
		}
		levels, err := stock.Levels(ctx, s.DB(ctx))
		if err != nil {
			t.Fatal(err)
		}
		if len(levels) != 1 {
			t.Fatalf("levels = %+v", levels)
		}
		got := levels[0]
		if got.UpdatedAt.IsZero() || got.UpdatedAt.Location() != time.UTC || got.UpdatedAt.Before(set.UpdatedAt) {
			t.Errorf("updated at %v, set at %v", got.UpdatedAt, set.UpdatedAt)
		}
		got.UpdatedAt = time.Time{}
		for i := range got.Slots {
			got.Slots[i].UpdatedAt = time.Time{}
		}
		raw, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"sku":"a","location":"w1","sellable":11,"reserved":1,"frozen":0,"shipped":0,"buckets":2,"slots":[` +
			`{"slot":"","sellable":0,"reserved":0,"frozen":0,"shipped":0,"updatedAt":"0001-01-01T00:00:00Z"},` +
			`{"slot":"b:0","sellable":2,"reserved":0,"frozen":0,"shipped":0,"updatedAt":"0001-01-01T00:00:00Z"},` +
			`{"slot":"b:1","sellable":6,"reserved":0,"frozen":0,"shipped":0,"updatedAt":"0001-01-01T00:00:00Z"},` +
			`{"slot":"ch:app","sellable":3,"reserved":1,"frozen":0,"shipped":0,"updatedAt":"0001-01-01T00:00:00Z"}],` +
			`"channels":[{"channel":"app","mode":"mutex","cap":4,"used":0}],"updatedAt":"0001-01-01T00:00:00Z"}`
		if string(raw) != want {
			t.Errorf("level\n got %s\nwant %s", raw, want)
		}
		if set.Sellable != 12 || set.Reserved != 0 || len(set.Slots) != 4 {
			t.Errorf("SetSellable returned %+v", set)
		}
		none, err := stock.Levels(ctx, s.DB(ctx), "nothing")
		if err != nil || none == nil || len(none) != 0 {
			t.Errorf("levels of an unknown SKU = %#v, %v; want an empty list", none, err)
		}
		wantSound(t, s.DB(ctx))
	})
}

// Availability feeds stock.route_warehouse: the default picks the
// highest-priority location that covers the region and has the channel's
// stock.
func TestAvailabilityRoutes(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		mustTx(t, s, func(tx *gorm.DB) error {
			for _, l := range []stock.Location{{Name: "east", Regions: "e1,e2", Priority: 9}, {Name: "all", Priority: 1}} {
				if err := stock.PutLocation(ctx, tx, l); err != nil {
					return err
				}
				if _, err := stock.SetSellable(ctx, tx, "a", l.Name, 5, "count"); err != nil {
					return err
				}
			}
			return stock.SetChannel(ctx, tx, stock.ChannelConfig{SKU: "a", Location: "east", Channel: "shop",
				Mode: stock.ModeExclusive})
		})
		k, err := kernel.Standalone(stock.Points(), stock.Defaults())
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ channel, region, want string }{
			{"shop", "e1", "east"}, // exclusive to shop at east
			{"", "e1", "all"},      // nobody else sells it there
			{"app", "e2", "all"},
			{"shop", "w", "all"}, // east does not ship west
		} {
			locs, err := stock.Availability(ctx, s.DB(ctx), tc.channel, []string{"a"})
			if err != nil {
				t.Fatal(err)
			}
			op, _ := k.Begin(ctx, "")
			got, err := stock.RouteWarehouse.Call(op, extensions.RouteRequest{Channel: tc.channel, Region: tc.region,
				Lines: []extensions.Line{{SKU: "a", Quantity: 5}}, Locations: locs})
			if err != nil || got.Location != tc.want {
				t.Errorf("channel %q region %q: routed to %q, %v; want %q", tc.channel, tc.region, got.Location, err, tc.want)
			}
		}
		if err := s.Tx(ctx, func(tx *gorm.DB) error { return stock.PutLocation(ctx, tx, stock.Location{}) }); errCode(err) != "invalid" {
			t.Errorf("put a location without a name: %v", err)
		}
	})
}
