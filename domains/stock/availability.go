package stock

import (
	"context"
	"fmt"
	"slices"

	"github.com/tmf-platform/tmf/extensions"
	"gorm.io/gorm"
)

// Availability returns every location (highest priority first, then by
// name) with its regions and, per SKU of skus, the quantity an order from
// channel (empty for none) could reserve there: the channel's own slot
// when the SKU is exclusive to it or it has stock set aside, plus the
// common pool (the pool slot and the buckets) as far as the channel may
// take from it — nothing when the SKU is exclusive to another channel or
// the channel has a set-aside and no cap, at most cap minus used under a
// shared cap. Every SKU has an entry, 0 where there is none. The platform
// passes the result to stock.route_warehouse. It only reads; the numbers
// are a snapshot, and Reserve decides.
func Availability(ctx context.Context, db *gorm.DB, channel string, skus []string) ([]extensions.LocationStock, error) {
	db = db.WithContext(ctx)
	locs, err := Locations(ctx, db)
	if err != nil {
		return nil, err
	}
	skus = slices.Compact(slices.Sorted(slices.Values(skus)))
	sellable := map[skuLoc]map[string]int64{}
	confs := map[skuLoc]*conf{}
	if len(skus) > 0 {
		var slots []Slot
		if err := db.Select("sku", "location", "slot", "sellable").Where("sku IN ?", skus).Find(&slots).Error; err != nil {
			return nil, fmt.Errorf("stock: availability: read slots: %w", err)
		}
		for _, s := range slots {
			k := skuLoc{s.SKU, s.Location}
			if sellable[k] == nil {
				sellable[k] = map[string]int64{}
			}
			sellable[k][s.Slot] = s.Sellable
		}
		if confs, err = loadConfs(db, skus, ""); err != nil {
			return nil, fmt.Errorf("stock: availability: %w", err)
		}
	}
	out := make([]extensions.LocationStock, len(locs))
	for i, l := range locs {
		ls := extensions.LocationStock{Location: l.Name, Regions: splitRegions(l.Regions), Priority: l.Priority,
			Sellable: make(map[string]int64, len(skus))}
		for _, sku := range skus {
			k := skuLoc{sku, l.Name}
			c := confs[k]
			if c == nil {
				c = &conf{}
			}
			ls.Sellable[sku] = c.available(channel, sellable[k])
		}
		out[i] = ls
	}
	return out, nil
}
