package stock_test

import (
	"fmt"
	"testing"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
	"gorm.io/gorm"
)

// Lowest finds the SKU-location pairs under a threshold, summed over their
// slots, lowest first, bounded.
func TestLowest(t *testing.T) {
	t.Parallel()
	forEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		mustTx(t, s, func(tx *gorm.DB) error {
			for _, l := range []struct {
				sku, loc string
				n        int64
			}{{"plenty", "w1", 50}, {"low", "w1", 4}, {"out", "w1", 0}, {"low", "w2", 9}, {"edge", "w1", 10}, {"split", "w1", 6}} {
				if _, err := stock.SetSellable(ctx, tx, l.sku, l.loc, l.n, "count"); err != nil {
					return err
				}
			}
			// 6 over two buckets: the pair is summed, not shown per slot.
			return stock.SplitBuckets(ctx, tx, "split", "w1", 2)
		})
		cases := []struct {
			below int64
			limit int
			want  string
		}{
			{10, 10, "[out@w1=0 low@w1=4 split@w1=6 low@w2=9]"},
			{10, 2, "[out@w1=0 low@w1=4]"},
			{1, 10, "[out@w1=0]"},
			{0, 10, "[]"},
		}
		for _, c := range cases {
			got, err := stock.Lowest(ctx, s.DB(ctx), c.below, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			text := "["
			for i, l := range got {
				if i > 0 {
					text += " "
				}
				text += fmt.Sprintf("%s@%s=%d", l.SKU, l.Location, l.Sellable)
			}
			if text += "]"; text != c.want {
				t.Errorf("Lowest(below %d, limit %d) = %s, want %s", c.below, c.limit, text, c.want)
			}
		}
	})
}
