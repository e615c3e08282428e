package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tmf-platform/tmf/platform/store/changes"
)

// PutSKU inserts or replaces a catalogue entry; every process's SKU cache
// drops it (package changes).
func (s *Store) PutSKU(ctx context.Context, sku SKU) error {
	if err := checkKey("sku", sku.SKU, maxSKU); err != nil {
		return fmt.Errorf("store: put sku: %w", err)
	}
	sku.UpdatedAt = s.now()
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		row := sku
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&row).Error; err != nil {
			return err
		}
		return changes.Mark(tx, changes.SKUs)
	})
	if err != nil {
		return fmt.Errorf("store: put sku %s: %w", sku.SKU, err)
	}
	return nil
}

// maxCachedSKUs bounds the SKU cache (it is emptied when full).
const maxCachedSKUs = 100_000

func (s *Store) skuCache() *changes.Cache[SKU] {
	return changes.CacheOf[SKU](s.changes, "store.skus", changes.SKUs, maxCachedSKUs)
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
// ones are simply absent from the map. Entries come from the SKU cache
// when it holds them (package changes: coherent across processes).
func (s *Store) GetSKUs(ctx context.Context, skus []string) (map[string]SKU, error) {
	out := make(map[string]SKU, len(skus))
	if len(skus) == 0 {
		return out, nil
	}
	cache := s.skuCache()
	var missing []string
	for _, k := range skus {
		if v, hit := cache.Lookup(k); hit {
			out[k] = v
		} else {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	gen, cacheable := cache.Snapshot()
	var rows []SKU
	if err := s.db.WithContext(ctx).Where("sku IN ?", missing).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: get skus: %w", err)
	}
	for _, r := range rows {
		r.UpdatedAt = stamp(r.UpdatedAt)
		out[r.SKU] = r
		if cacheable {
			cache.Fill(gen, r.SKU, r)
		}
	}
	return out, nil
}
