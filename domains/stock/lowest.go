package stock

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// LowLevel is the sellable stock of one SKU at one location (the sum over
// its slots).
type LowLevel struct {
	SKU      string `gorm:"column:sku"`
	Location string `gorm:"column:location"`
	Sellable int64  `gorm:"column:sellable"`
}

// Lowest returns up to limit SKU-location pairs whose sellable stock is
// under below, lowest first (then by SKU and location): the stock that
// is low or out. One grouped read of the slots; it writes nothing.
func Lowest(ctx context.Context, db *gorm.DB, below int64, limit int) ([]LowLevel, error) {
	var rows []LowLevel
	err := db.WithContext(ctx).Model(&Slot{}).Select("sku, location, SUM(sellable) AS sellable").
		Group("sku, location").Having("SUM(sellable) < ?", below).
		Order("sellable, sku, location").Limit(limit).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("stock: lowest levels: %w", err)
	}
	return rows, nil
}
