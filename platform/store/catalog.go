package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// PutSKU inserts or replaces a catalogue entry.
func (s *Store) PutSKU(ctx context.Context, sku SKU) error {
	if err := checkKey("sku", sku.SKU, maxSKU); err != nil {
		return fmt.Errorf("store: put sku: %w", err)
	}
	sku.UpdatedAt = s.now()
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(&sku).Error; err != nil {
		return fmt.Errorf("store: put sku %s: %w", sku.SKU, err)
	}
	return nil
}

// GetSKU returns one catalogue entry, or ErrNotFound.
func (s *Store) GetSKU(ctx context.Context, sku string) (SKU, error) {
	var out SKU
	err := s.db.WithContext(ctx).Where("sku = ?", sku).Take(&out).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return SKU{}, fmt.Errorf("store: sku %s: %w", sku, ErrNotFound)
	}
	if err != nil {
		return SKU{}, fmt.Errorf("store: get sku %s: %w", sku, err)
	}
	out.UpdatedAt = stamp(out.UpdatedAt)
	return out, nil
}

// GetSKUs returns the catalogue entries of skus that exist, by SKU; missing
// ones are simply absent from the map.
func (s *Store) GetSKUs(ctx context.Context, skus []string) (map[string]SKU, error) {
	out := make(map[string]SKU, len(skus))
	if len(skus) == 0 {
		return out, nil
	}
	var rows []SKU
	if err := s.db.WithContext(ctx).Where("sku IN ?", skus).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: get skus: %w", err)
	}
	for _, r := range rows {
		r.UpdatedAt = stamp(r.UpdatedAt)
		out[r.SKU] = r
	}
	return out, nil
}
