package stock

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// DefaultLowThreshold is the low-stock threshold when none is configured:
// a reservation that leaves a SKU at a location with fewer sellable units
// than this, having left at least this many before, crosses it (the order
// service then writes a stock.low event).
const DefaultLowThreshold = 10

// Sellable returns the sellable quantity of each of skus at location, the
// sum over the SKU's slots (pool, channels, buckets), as db reads it: run
// in the reserving transaction, it sees that transaction's reservation. A
// SKU without stock there is absent. It only reads.
func Sellable(ctx context.Context, db *gorm.DB, location string, skus []string) (map[string]int64, error) {
	var rows []struct {
		SKU      string `gorm:"column:sku"`
		Sellable int64
	}
	err := db.WithContext(ctx).Model(&Slot{}).Select("sku, SUM(sellable) AS sellable").
		Where("location = ? AND sku IN ?", location, skus).Group("sku").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("stock: sellable at %s: %w", location, err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.SKU] = r.Sellable
	}
	return out, nil
}

// Crossing is a SKU whose sellable stock at a location a reservation took
// below a threshold: to zero (Out) or under the low threshold (Low).
type Crossing struct {
	SKU      string
	Sellable int64
	Out      bool
}

// Crossings compares the sellable stock after a reservation with what it
// was before (after + reserved): a SKU that went to zero is Out; one that
// went from at least low to under it (and not to zero) is Low. reserved
// is the quantity the reservation took per SKU. The result is in the order
// of skus. With low <= 0 only Out crossings are reported.
func Crossings(after, reserved map[string]int64, skus []string, low int64) []Crossing {
	var out []Crossing
	for _, sku := range skus {
		a, ok := after[sku]
		if !ok || reserved[sku] <= 0 {
			continue
		}
		before := a + reserved[sku]
		switch {
		case a <= 0:
			out = append(out, Crossing{SKU: sku, Sellable: max(a, 0), Out: true})
		case low > 0 && a < low && before >= low:
			out = append(out, Crossing{SKU: sku, Sellable: a})
		}
	}
	return out
}
