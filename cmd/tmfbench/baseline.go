package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
)

// baseline is the physical floor of a placement: with bare SQL through
// database/sql and no framework, one transaction per order that writes
// what the server's placement commits, on the server's schema (its
// triggers included): the conditional stock decrement, the stock ledger
// row, the order, its line, its first history row and its outbox event.
// Nothing outside that transaction (no idempotency record, no reads), so
// that placement through tmfd can be stated as a share of it. It runs
// o.Buyers connections for o.Duration on a SKU of its own and returns
// orders per second.
func baseline(ctx context.Context, o options) (float64, error) {
	st, err := store.Open(ctx, o.SQL, store.WithMaxOpenConns(o.Buyers))
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return 0, err
	}
	sku := fmt.Sprintf("bare-%x", time.Now().UnixNano()&0xffffffffff)
	if err := st.Tx(ctx, func(tx *gorm.DB) error {
		_, err := stock.SetSellable(ctx, tx, sku, "default", 1<<40, "bare-SQL baseline")
		return err
	}); err != nil {
		return 0, err
	}
	db, dialect := st.SQL(), st.Dialect()
	q := func(s string) string { return rebind(dialect, s) }
	var (
		reserve = q(`UPDATE tmf_stock_slots SET sellable = sellable - ?, reserved = reserved + ?, updated_at = ? WHERE sku = ? AND location = ? AND slot = '' AND sellable >= ?`)
		move    = q(`INSERT INTO tmf_stock_ledger (move_key, sku, location, slot, order_id, line_no, part, channel, kind, quantity, reason, created_at) VALUES (?, ?, ?, '', ?, 1, 1, '', 'reserve', 1, '', ?)`)
		order   = q(`INSERT INTO tmf_orders (id, biz_code, buyer_id, owner_org, channel, status, currency, subtotal, discount, freight, total, payment_method, shipping, location, version, payment_deadline, created_at, updated_at) VALUES (?, 'retail', ?, '', '', 'pending_payment', 'CNY', 1999, 0, 800, 2799, 'card', '{"region":"east"}', 'default', 1, ?, ?, ?)`)
		line    = q(`INSERT INTO tmf_order_lines (order_id, line_no, sku, quantity, list_price, unit_price, line_total) VALUES (?, 1, ?, 1, 1999, 1999, 1999)`)
		history = q(`INSERT INTO tmf_order_history (order_id, version, event, from_state, to_state, actor, reason, created_at) VALUES (?, 1, 'place', 'created', 'pending_payment', ?, '', ?)`)
		outbox  = q(`INSERT INTO tmf_outbox_events (id, topic, aggregate_id, payload, created_at, attempts) VALUES (?, 'order.placed', ?, ?, ?, 0)`)
	)
	payload := strings.Repeat("x", 900) // about the size of an order view
	placeOne := func(worker, n int) error {
		now := time.Now().UTC()
		id := fmt.Sprintf("obare%d-%d-%s", worker, n, randomHex(4))
		buyer := "bare-" + strconv.Itoa(worker)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		res, err := tx.ExecContext(ctx, reserve, 1, 1, now, sku, "default", 1)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("baseline SKU out of stock")
		}
		deadline := now.Add(30 * time.Minute)
		for _, stmt := range []struct {
			sql  string
			args []any
		}{
			{move, []any{id + "/" + sku + "/default/reserve", sku, "default", id, now}},
			{order, []any{id, buyer, deadline, now, now}},
			{line, []any{id, sku}},
			{history, []any{id, buyer, now}},
			{outbox, []any{randomHex(16), id, payload, now}},
		} {
			if _, err := tx.ExecContext(ctx, stmt.sql, stmt.args...); err != nil {
				return err
			}
		}
		return tx.Commit()
	}
	run, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var done atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for w := range o.Buyers {
		wg.Go(func() {
			for n := 0; run.Err() == nil; n++ {
				if err := placeOne(w, n); err != nil {
					if run.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

// rebind turns ? placeholders into $n for PostgreSQL.
func rebind(dialect, q string) string {
	if dialect != store.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
