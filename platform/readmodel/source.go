package readmodel

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/platform/store"
)

// Source is where the read model reads orders from: the order store that
// owns them. Fetch reads orders by id (one shard per order: the id names
// it); Scan pages through every order by (created_at, id) for a rebuild;
// Orgs is the organisation tree of the control database.
type Source interface {
	// Fetch returns the current snapshots of the orders named (those that
	// exist), each read consistently, in the order of ids.
	Fetch(ctx context.Context, ids []string) ([]Snapshot, error)
	// Scan returns up to limit order ids after the position, in (created_at,
	// id) order, with the position of the last; none at the end.
	Scan(ctx context.Context, after *store.Cursor, limit int) ([]string, *store.Cursor, error)
	// CountOrders is how many orders there are (for a rebuild's progress).
	CountOrders(ctx context.Context) (int64, error)
	// Orgs is every node of the organisation tree, id → path.
	Orgs(ctx context.Context) (map[string]string, error)
}

// StoreSource reads orders from a store (today's single order database;
// with order shards, the shard an id names).
type StoreSource struct{ Store *store.Store }

// Fetch reads the orders, their lines, payment balances and searchable
// attributes in one transaction (REPEATABLE READ on PostgreSQL and MySQL,
// so the snapshot is one state of the order).
func (s StoreSource) Fetch(ctx context.Context, ids []string) ([]Snapshot, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var out []Snapshot
	opts := &sql.TxOptions{ReadOnly: true}
	if s.Store.Dialect() != store.SQLite {
		opts.Isolation = sql.LevelRepeatableRead
	}
	err := s.Store.DB(ctx).Transaction(func(tx *gorm.DB) error {
		var orders []store.Order
		if err := tx.Where("id IN ?", ids).Find(&orders).Error; err != nil {
			return err
		}
		if len(orders) == 0 {
			return nil
		}
		found := make([]string, len(orders))
		at := make(map[string]int, len(orders))
		out = make([]Snapshot, len(orders))
		for i, o := range orders {
			o.CreatedAt, o.UpdatedAt = stamp(o.CreatedAt), stamp(o.UpdatedAt)
			if o.PaymentDeadline != nil {
				d := stamp(*o.PaymentDeadline)
				o.PaymentDeadline = &d
			}
			o.Lines = []store.OrderLine{}
			out[i] = Snapshot{Order: o, Attrs: map[string]string{}}
			found[i], at[o.ID] = o.ID, i
		}
		var lines []store.OrderLine
		if err := tx.Where("order_id IN ?", found).Order("order_id").Order("line_no").Find(&lines).Error; err != nil {
			return err
		}
		for _, l := range lines {
			o := &out[at[l.OrderID]].Order
			o.Lines = append(o.Lines, l)
		}
		var attrs []store.OrderAttribute
		if err := tx.Where("order_id IN ?", found).Find(&attrs).Error; err != nil {
			return err
		}
		for _, a := range attrs {
			out[at[a.OrderID]].Attrs[a.Name] = a.Value
		}
		var bals []struct {
			OrderID            string
			Captured, Refunded int64
			UpdatedAt          time.Time
		}
		if err := tx.Table("tmf_payment_balances").Select("order_id, captured, refunded, updated_at").
			Where("order_id IN ?", found).Scan(&bals).Error; err != nil {
			return err
		}
		for _, b := range bals {
			s := &out[at[b.OrderID]]
			s.Paid, s.Refunded, s.BalanceAt = b.Captured, b.Refunded, b.UpdatedAt.UTC().UnixMicro()
		}
		return nil
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("readmodel: fetch orders: %w", err)
	}
	pos := make(map[string]int, len(ids))
	for i, id := range ids {
		if _, ok := pos[id]; !ok {
			pos[id] = i
		}
	}
	slices.SortFunc(out, func(a, b Snapshot) int { return pos[a.Order.ID] - pos[b.Order.ID] })
	return out, nil
}

// stamp is a time as the store returns it: UTC, at the store's precision.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(store.Precision) }

// Scan pages through the order ids by (created_at, id).
func (s StoreSource) Scan(ctx context.Context, after *store.Cursor, limit int) ([]string, *store.Cursor, error) {
	tx := s.Store.DB(ctx).Model(&store.Order{}).Select("id, created_at")
	if after != nil {
		tx = tx.Where("created_at >= ? AND (created_at > ? OR id > ?)", after.CreatedAt, after.CreatedAt, after.ID)
	}
	var rows []struct {
		ID        string
		CreatedAt time.Time
	}
	if err := tx.Order("created_at").Order("id").Limit(limit).Scan(&rows).Error; err != nil {
		return nil, nil, fmt.Errorf("readmodel: scan orders: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil, nil
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	last := rows[len(rows)-1]
	return ids, &store.Cursor{CreatedAt: stamp(last.CreatedAt), ID: last.ID}, nil
}

// CountOrders counts the orders.
func (s StoreSource) CountOrders(ctx context.Context) (int64, error) {
	var n int64
	err := s.Store.DB(ctx).Model(&store.Order{}).Count(&n).Error
	return n, err
}

// Orgs reads the organisation tree.
func (s StoreSource) Orgs(ctx context.Context) (map[string]string, error) {
	var rows []struct{ ID, Path string }
	if err := s.Store.DB(ctx).Table("tmf_orgs").Select("id, path").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("readmodel: read the organisation tree: %w", err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.ID] = r.Path
	}
	return out, nil
}
