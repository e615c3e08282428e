package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
)

// StockDiscrepancy is one way a stock level disagrees with the ledger.
type StockDiscrepancy struct {
	SKU      string
	Location string
	// Bucket is "total" (what was put in against the sum of the buckets) or
	// the bucket at fault: sellable, reserved, frozen or shipped.
	Bucket string
	// Ledger is what the moves imply; Level what the stock level holds.
	Ledger int64
	Level  int64
	// Problem says what is wrong, in words.
	Problem string
}

func (d StockDiscrepancy) String() string {
	return fmt.Sprintf("%s at %s: %s: %s (ledger %d, level %d)", d.SKU, d.Location, d.Bucket, d.Problem, d.Ledger, d.Level)
}

// AuditStock checks every stock level against the move ledger: what was put
// in (the sum of the adjust moves) must equal sellable+reserved+frozen+
// shipped, each bucket must equal what the moves imply, and none may be
// negative. It returns the differences, none when the stock is sound. It
// reads every level and sums every move: run it from tests and operations,
// not on a request path.
func (s *Store) AuditStock(ctx context.Context) ([]StockDiscrepancy, error) {
	type key struct{ sku, location string }
	type sum struct {
		SKU      string
		Location string
		Kind     string
		Total    int64
	}
	db := s.db.WithContext(ctx)
	var levels []StockLevel
	if err := db.Find(&levels).Error; err != nil {
		return nil, fmt.Errorf("store: audit stock: %w", err)
	}
	var sums []sum
	if err := db.Raw("SELECT sku, location, kind, SUM(quantity) AS total FROM tmf_stock_moves GROUP BY sku, location, kind").
		Scan(&sums).Error; err != nil {
		return nil, fmt.Errorf("store: audit stock: %w", err)
	}
	ledger := map[key]map[string]int64{}
	for _, m := range sums {
		k := key{m.SKU, m.Location}
		if ledger[k] == nil {
			ledger[k] = map[string]int64{}
		}
		ledger[k][m.Kind] += m.Total
	}
	var out []StockDiscrepancy
	seen := map[key]bool{}
	for _, l := range levels {
		k := key{l.SKU, l.Location}
		seen[k] = true
		out = append(out, auditLevel(l, ledger[k])...)
	}
	for k, kinds := range ledger {
		if seen[k] {
			continue
		}
		for kind, q := range kinds {
			if q != 0 {
				out = append(out, StockDiscrepancy{SKU: k.sku, Location: k.location, Bucket: "total", Ledger: kinds[MoveAdjust],
					Problem: fmt.Sprintf("moves (%s %d) but no stock level", kind, q)})
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b StockDiscrepancy) int {
		return cmp.Or(strings.Compare(a.SKU, b.SKU), strings.Compare(a.Location, b.Location), strings.Compare(a.Bucket, b.Bucket))
	})
	return out, nil
}

func auditLevel(l StockLevel, m map[string]int64) []StockDiscrepancy {
	var out []StockDiscrepancy
	add := func(bucket string, ledger, level int64, problem string) {
		out = append(out, StockDiscrepancy{SKU: l.SKU, Location: l.Location, Bucket: bucket, Ledger: ledger, Level: level, Problem: problem})
	}
	putIn := m[MoveAdjust]
	if sum := l.Sellable + l.Reserved + l.Frozen + l.Shipped; sum != putIn {
		add("total", putIn, sum, "put in differs from sellable+reserved+frozen+shipped")
	}
	buckets := []struct {
		name          string
		ledger, level int64
	}{
		{"sellable", putIn - m[MoveReserve] + m[MoveRelease] + m[MoveReturn] + m[MoveUnfreeze], l.Sellable},
		{"reserved", m[MoveReserve] - m[MoveConfirm] - m[MoveRelease], l.Reserved},
		{"frozen", m[MoveConfirm] - m[MoveShip] - m[MoveUnfreeze], l.Frozen},
		{"shipped", m[MoveShip] - m[MoveReturn], l.Shipped},
	}
	for _, b := range buckets {
		switch {
		case b.level < 0:
			add(b.name, b.ledger, b.level, "negative")
		case b.level != b.ledger:
			add(b.name, b.ledger, b.level, "differs from the moves")
		}
	}
	return out
}
