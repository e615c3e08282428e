package store_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// N racers for K units, each in its own transaction: PostgreSQL and MySQL
// on a 16-connection pool, SQLite on its one connection.
const racers, units = 40, 15

// N buyers race for K units, each order reserving its unit in a step of
// CreateOrder: exactly K orders go in, the others are out of stock and
// leave nothing behind (no orphan order, line, history, event, idempotency
// answer or ledger row), and the stock is never oversold.
func TestConcurrentOrdersNeverOversell(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		s := storetest.Open(t, dialect, store.WithMaxOpenConns(16))
		ctx := t.Context()
		seed(t, s, "hot", units)
		var ok, oos atomic.Int64
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				id, key := fmt.Sprintf("o-%04d", i), fmt.Sprint("k-", i)
				if _, won, err := s.ClaimIdempotency(ctx, "alice", key, "h", time.Hour); err != nil || !won {
					t.Errorf("claim %s: %v, %v", key, won, err)
					return
				}
				n := newOrder(id, reserve("hot", 1))
				n.Idempotency = &store.IdempotencyResult{Principal: "alice", Key: key, StatusCode: 201, Body: id}
				err := s.CreateOrder(ctx, n)
				var e *stock.OutOfStockError
				switch {
				case err == nil:
					ok.Add(1)
				case errors.As(err, &e):
					// Available is the stock domain's figure, and its own
					// tests'; on MySQL it may come from the transaction's
					// snapshot, taken before the winners committed.
					if e.SKU != "hot" || e.Location != location || e.Channel != "app" || e.Requested != 1 ||
						e.Available < 0 || e.Available > units {
						t.Errorf("order %d: %+v", i, *e)
					}
					oos.Add(1)
				default:
					t.Errorf("order %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != units || oos.Load() != racers-units {
			t.Errorf("%d orders and %d out of stock, want %d and %d", ok.Load(), oos.Load(), units, racers-units)
		}
		wantStock(t, s, "hot", buckets{0, units, 0, 0})
		wantSound(t, s)
		orders, err := s.ListOrders(ctx, store.OrderQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(orders) != units {
			t.Errorf("%d orders stored, want %d", len(orders), units)
		}
		for what, got := range map[string]int64{
			"lines":               count(t, s, &store.OrderLine{}, ""),
			"history steps":       count(t, s, &store.OrderHistory{}, ""),
			"outbox events":       int64(len(pending(t, s))),
			"idempotency answers": count(t, s, &store.IdempotencyRecord{}, "state = ?", store.IdempotencyDone),
			"reserve rows":        count(t, s, &stock.LedgerEntry{}, "kind = ?", stock.KindReserve),
		} {
			if got != units {
				t.Errorf("%d %s, want one per order: %d", got, what, units)
			}
		}
		if n := count(t, s, &stock.LedgerEntry{}, "order_id <> '' AND order_id NOT IN (SELECT id FROM tmf_orders)"); n != 0 {
			t.Errorf("%d ledger rows of orders that do not exist", n)
		}
		if n := count(t, s, &store.IdempotencyRecord{}, "state = ?", store.IdempotencyRunning); n != racers-units {
			t.Errorf("%d idempotency records left running, want the %d refused orders'", n, racers-units)
		}
	})
}

// Many placements of one order id at once: one goes in, the others are
// duplicates whose steps never run, so the stock is reserved once.
func TestConcurrentDuplicateOrdersReserveOnce(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		s := storetest.Open(t, dialect, store.WithMaxOpenConns(16))
		seed(t, s, "sku1", units)
		var ok, dup atomic.Int64
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				err := s.CreateOrder(t.Context(), newOrder("o-1", reserve("sku1", 2)))
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, store.ErrDuplicate):
					dup.Add(1)
				default:
					t.Errorf("racer %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || dup.Load() != racers-1 {
			t.Errorf("%d created, %d duplicates; want 1 and %d", ok.Load(), dup.Load(), racers-1)
		}
		wantStock(t, s, "sku1", buckets{units - 2, 2, 0, 0})
		if n := count(t, s, &stock.LedgerEntry{}, "order_id = ?", "o-1"); n != 1 {
			t.Errorf("%d ledger rows for o-1, want 1", n)
		}
		if evs := pending(t, s); len(evs) != 1 {
			t.Errorf("%d outbox events, want 1", len(evs))
		}
		wantSound(t, s)
	})
}

// Of many transitions racing from the same version, exactly one wins; its
// stock step runs once.
func TestConcurrentTransitionsOneWins(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		s := storetest.Open(t, dialect, store.WithMaxOpenConns(16))
		seed(t, s, "sku1", 5)
		mustCreate(t, s, newOrder("o-1", reserve("sku1", 2)))
		var won, conflicts atomic.Int64
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				_, err := s.TransitionOrder(t.Context(), store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "paid",
					History: store.OrderHistory{Event: "pay", Actor: fmt.Sprint("racer-", i)},
					Steps:   moveSteps("o-1", stock.KindConfirm),
					Events:  []store.OutboxEvent{{Topic: "order.paid", Payload: "{}"}}})
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, store.ErrVersionConflict):
					conflicts.Add(1)
				default:
					t.Errorf("racer %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 || conflicts.Load() != racers-1 {
			t.Errorf("%d won, %d conflicts; want 1 and %d", won.Load(), conflicts.Load(), racers-1)
		}
		o, _ := s.GetOrder(t.Context(), "o-1")
		if o.Version != 2 || o.Status != "paid" {
			t.Errorf("order = %+v", o)
		}
		hist, _ := s.OrderHistory(t.Context(), "o-1")
		if len(hist) != 2 || len(pending(t, s)) != 2 {
			t.Errorf("%d history steps, %d events; want 2 and 2", len(hist), len(pending(t, s)))
		}
		if n := count(t, s, &stock.LedgerEntry{}, "order_id = ? AND kind = ?", "o-1", stock.KindConfirm); n != 1 {
			t.Errorf("%d confirm rows, want 1", n)
		}
		wantStock(t, s, "sku1", buckets{3, 0, 2, 0})
		wantSound(t, s)
	})
}
