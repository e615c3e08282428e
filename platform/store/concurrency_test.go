package store_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// 500 buyers race for 100 units: exactly 100 orders, never an oversell.
// PostgreSQL and MySQL use a 16-connection pool, SQLite its one connection.
func TestConcurrentOrdersNeverOversell(t *testing.T) {
	t.Parallel()
	const buyers, stock = 500, 100
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		s := storetest.Open(t, dialect, store.WithMaxOpenConns(16))
		seed(t, s, "hot", stock)
		var ok, oos atomic.Int64
		var wg sync.WaitGroup
		for i := range buyers {
			wg.Go(func() {
				err := s.CreateOrder(t.Context(), newOrder(fmt.Sprintf("o-%04d", i), reserve("hot", 1)))
				var e *store.OutOfStockError
				switch {
				case err == nil:
					ok.Add(1)
				case errors.As(err, &e):
					oos.Add(1)
				default:
					t.Errorf("order %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != stock || oos.Load() != buyers-stock {
			t.Errorf("%d orders and %d out of stock, want %d and %d", ok.Load(), oos.Load(), stock, buyers-stock)
		}
		wantStock(t, s, "hot", buckets{0, stock, 0, 0})
		wantSound(t, s)
		orders, err := s.ListOrders(t.Context(), store.OrderQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(orders) != stock {
			t.Errorf("%d orders stored, want %d", len(orders), stock)
		}
		if evs := pending(t, s); len(evs) != stock {
			t.Errorf("%d outbox events, want %d", len(evs), stock)
		}
	})
}

// Of many transitions racing from the same version, exactly one wins; its
// stock move happens once.
func TestConcurrentTransitionsOneWins(t *testing.T) {
	t.Parallel()
	const racers = 20
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		seed(t, s, "sku1", 5)
		mustCreate(t, s, newOrder("o-1", reserve("sku1", 2)))
		var won, conflicts atomic.Int64
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				_, err := s.TransitionOrder(t.Context(), store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "paid",
					History: store.OrderHistory{Event: "pay", Actor: fmt.Sprint("racer-", i)},
					Moves:   []store.StockChange{{SKU: "sku1", Location: "wh1", Quantity: 2, Kind: store.MoveConfirm}},
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
		wantStock(t, s, "sku1", buckets{3, 0, 2, 0})
		wantSound(t, s)
	})
}

// A stock move replayed by a later transition (a retried cancel, a
// redelivered payment-timeout message) moves stock once.
func TestReplayedMoveMovesStockOnce(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		seed(t, s, "sku1", 10)
		mustCreate(t, s, newOrder("o-1", reserve("sku1", 3)))
		wantStock(t, s, "sku1", buckets{7, 3, 0, 0})
		release := []store.StockChange{{SKU: "sku1", Location: "wh1", Quantity: 3, Kind: store.MoveRelease}}
		for version := int64(1); version <= 2; version++ {
			o, err := s.TransitionOrder(ctx, store.Transition{OrderID: "o-1", ExpectVersion: version, To: "cancelled", Moves: release})
			if err != nil {
				t.Fatalf("release at version %d: %v", version, err)
			}
			if o.Version != version+1 {
				t.Errorf("version %d, want %d", o.Version, version+1)
			}
			wantStock(t, s, "sku1", buckets{10, 0, 0, 0})
		}
		wantSound(t, s)
	})
}

// SetSellable racing with reservations loses no update: the ledger and the
// levels agree, and every successful order holds its reservation.
func TestSetSellableRacingReservations(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		seed(t, s, "sku1", 100)
		var ok atomic.Int64
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() {
				err := s.CreateOrder(t.Context(), newOrder(fmt.Sprintf("o-%03d", i), reserve("sku1", 1)))
				var e *store.OutOfStockError
				switch {
				case err == nil:
					ok.Add(1)
				case !errors.As(err, &e):
					t.Errorf("order %d: %v", i, err)
				}
			})
		}
		for range 20 {
			wg.Go(func() {
				if _, err := s.SetSellable(t.Context(), "sku1", "wh1", rand.Int64N(60), "recount"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		levels, _ := s.StockLevels(t.Context(), "sku1")
		if levels[0].Reserved != ok.Load() {
			t.Errorf("reserved %d, want the %d orders", levels[0].Reserved, ok.Load())
		}
		wantSound(t, s)
	})
}
