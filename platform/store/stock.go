package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

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

// PutLocation inserts or replaces a stock location.
func (s *Store) PutLocation(ctx context.Context, loc Location) error {
	if err := checkKey("location", loc.Name, maxLocation); err != nil {
		return fmt.Errorf("store: put location: %w", err)
	}
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(&loc).Error; err != nil {
		return fmt.Errorf("store: put location %s: %w", loc.Name, err)
	}
	return nil
}

// Locations returns every stock location, highest priority first, then by name.
func (s *Store) Locations(ctx context.Context) ([]Location, error) {
	var out []Location
	if err := s.db.WithContext(ctx).Order("priority DESC").Order("name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: locations: %w", err)
	}
	return out, nil
}

// SetSellable sets the sellable quantity of sku at location and records the
// change as an adjust move with reason, in one transaction. The location
// (priority 0, every region) and the stock level are created when absent.
// The level's row is locked while the delta is computed, so concurrent
// reservations are never lost.
func (s *Store) SetSellable(ctx context.Context, sku, location string, sellable int64, reason string) (StockLevel, error) {
	if err := errors.Join(checkKey("sku", sku, maxSKU), checkKey("location", location, maxLocation)); err != nil {
		return StockLevel{}, fmt.Errorf("store: set sellable: %w", err)
	}
	if sellable < 0 {
		return StockLevel{}, fmt.Errorf("store: set sellable %s at %s: %w", sku, location, invalid("negative quantity %d", sellable))
	}
	var out StockLevel
	err := s.inTx(ctx, func(tx *gorm.DB) error {
		now := s.now()
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&Location{Name: location}).Error; err != nil {
			return err
		}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).
			Create(&StockLevel{SKU: sku, Location: location, UpdatedAt: now}).Error; err != nil {
			return err
		}
		var lvl StockLevel
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("sku = ? AND location = ?", sku, location).Take(&lvl).Error; err != nil {
			return err
		}
		delta := sellable - lvl.Sellable
		if err := tx.Exec("UPDATE tmf_stock_levels SET sellable = ?, updated_at = ? WHERE sku = ? AND location = ?",
			sellable, now, sku, location).Error; err != nil {
			return err
		}
		move := StockMove{MoveKey: MoveAdjust + "/" + newID(), SKU: sku, Location: location, Kind: MoveAdjust,
			Quantity: delta, Reason: truncate(reason, 255), CreatedAt: now}
		if err := tx.Create(&move).Error; err != nil {
			return err
		}
		lvl.Sellable, lvl.UpdatedAt = sellable, now
		out = lvl
		return nil
	})
	if err != nil {
		return StockLevel{}, fmt.Errorf("store: set sellable %s at %s: %w", sku, location, err)
	}
	return out, nil
}

// StockLevels returns the levels of skus at every location (of every SKU
// when none is given), sorted by SKU then location.
func (s *Store) StockLevels(ctx context.Context, skus ...string) ([]StockLevel, error) {
	q := s.db.WithContext(ctx).Order("sku").Order("location")
	if len(skus) > 0 {
		q = q.Where("sku IN ?", skus)
	}
	var out []StockLevel
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: stock levels: %w", err)
	}
	for i := range out {
		out[i].UpdatedAt = stamp(out[i].UpdatedAt)
	}
	return out, nil
}

// transfer is a move between two buckets of a stock level.
type transfer struct{ from, to string }

var transfers = map[string]transfer{
	MoveReserve:  {"sellable", "reserved"},
	MoveConfirm:  {"reserved", "frozen"},
	MoveRelease:  {"reserved", "sellable"},
	MoveShip:     {"frozen", "shipped"},
	MoveReturn:   {"shipped", "sellable"},
	MoveUnfreeze: {"frozen", "sellable"},
}

// transferSQL holds, per kind, the conditional update that moves quantity
// between buckets only if the source bucket covers it. It never reads and
// writes back: the database checks and changes the row in one statement.
var transferSQL = func() map[string]string {
	m := make(map[string]string, len(transfers))
	for kind, t := range transfers {
		m[kind] = fmt.Sprintf("UPDATE tmf_stock_levels SET %[1]s = %[1]s - ?, %[2]s = %[2]s + ?, updated_at = ? "+
			"WHERE sku = ? AND location = ? AND %[1]s >= ?", t.from, t.to)
	}
	return m
}()

// applyTransfer moves qty between the buckets of kind; false when the source
// bucket (or the level) was short.
func applyTransfer(tx *gorm.DB, kind, sku, location string, qty int64, now any) (bool, error) {
	res := tx.Exec(transferSQL[kind], qty, qty, now, sku, location, qty)
	if res.Error != nil {
		return false, res.Error
	}
	return res.RowsAffected == 1, nil
}

// insertMoveOnce writes a move unless one with its key exists; false when it
// did exist. A duplicate must not fail the statement: on PostgreSQL that
// would abort the whole transaction.
func (s *Store) insertMoveOnce(tx *gorm.DB, m StockMove) (bool, error) {
	const insert = "INSERT INTO tmf_stock_moves (move_key, sku, location, order_id, kind, quantity, reason, created_at) " +
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
	onDup := "ON CONFLICT (move_key) DO NOTHING"
	if s.dialect == MySQL {
		// Without CLIENT_FOUND_ROWS, a no-op update counts 0 rows.
		onDup = "ON DUPLICATE KEY UPDATE move_key = move_key"
	}
	res := tx.Exec(insert+onDup, m.MoveKey, m.SKU, m.Location, m.OrderID, m.Kind, m.Quantity, m.Reason, m.CreatedAt)
	if res.Error != nil {
		return false, res.Error
	}
	return res.RowsAffected == 1, nil
}

func moveKey(orderID, sku, location, kind string) string {
	return orderID + "/" + sku + "/" + location + "/" + kind
}

// sortChanges orders stock changes by SKU and location, so that concurrent
// transactions lock rows in the same order and cannot deadlock. The sort is
// stable: changes of one row keep the caller's order (confirm, then ship).
func sortChanges(cs []StockChange) {
	slices.SortStableFunc(cs, func(a, b StockChange) int {
		return cmp.Or(strings.Compare(a.SKU, b.SKU), strings.Compare(a.Location, b.Location))
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Do not cut a UTF-8 sequence in half.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
