package store

import (
	"context"
	"fmt"
	"slices"

	"gorm.io/gorm"
)

// OrderAttribute indexes one searchable attribute of an order: its name and
// its canonical text (extensions.AttributeText), so that order lists can
// filter on attr.<name>=<value> with an index on all three databases. The
// attributes themselves are Order.Attributes.
type OrderAttribute struct {
	OrderID string `gorm:"primaryKey;size:40;autoIncrement:false;index:idx_tmf_order_attributes_lookup,priority:3"`
	Name    string `gorm:"primaryKey;size:64;autoIncrement:false;index:idx_tmf_order_attributes_lookup,priority:1"`
	Value   string `gorm:"size:255;not null;index:idx_tmf_order_attributes_lookup,priority:2"`
}

// TableName implements gorm's schema.Tabler.
func (OrderAttribute) TableName() string { return "tmf_order_attributes" }

// IndexAttributes writes the searchable attributes of a new order in tx,
// its transaction (a Step). Values are at most 255 bytes (the caller
// validated them).
func IndexAttributes(ctx context.Context, tx *gorm.DB, orderID string, values map[string]string) error {
	if len(values) == 0 {
		return nil
	}
	rows := make([]OrderAttribute, 0, len(values))
	for n, v := range values {
		rows = append(rows, OrderAttribute{OrderID: orderID, Name: n, Value: v})
	}
	slices.SortFunc(rows, func(a, b OrderAttribute) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	if err := tx.Create(&rows).Error; err != nil {
		return fmt.Errorf("index attributes of order %s: %w", orderID, err)
	}
	return nil
}
