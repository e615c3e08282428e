package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/outbox"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// placeOrders writes n orders, each with one outbox event, through the store.
func placeOrders(t *testing.T, st *store.Store, n int) {
	t.Helper()
	ctx := t.Context()
	if err := st.PutSKU(ctx, store.SKU{SKU: "s", Title: "s", Price: 1, Currency: "CNY"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Tx(ctx, func(tx *gorm.DB) error {
		_, err := stock.SetSellable(ctx, tx, "s", "w", 1000, "test")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		now := time.Now().UTC().Truncate(time.Microsecond)
		id := fmt.Sprintf("o%04d", i)
		err := st.CreateOrder(ctx, store.NewOrder{
			Order: store.Order{ID: id, BizCode: "b", BuyerID: "u", Status: "pending_payment", Currency: "CNY", Version: 1,
				Location: "w", CreatedAt: now, UpdatedAt: now,
				Lines: []store.OrderLine{{OrderID: id, LineNo: 1, SKU: "s", Quantity: 1}}},
			History: store.OrderHistory{OrderID: id, Version: 1, Event: "place", ToState: "pending_payment", CreatedAt: now},
			Events:  []store.OutboxEvent{{ID: fmt.Sprintf("e%04d", i), Topic: "order.placed", AggregateID: id, Payload: `{"n":` + fmt.Sprint(i) + `}`, CreatedAt: now}},
			Steps: []store.Step{func(ctx context.Context, tx *gorm.DB) error {
				return stock.Reserve(ctx, tx, stock.ReserveRequest{OrderID: id, Location: "w", BuyerID: "u",
					Lines: []stock.LineQty{{LineNo: 1, SKU: "s", Quantity: 1}}})
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	levels, err := stock.Levels(ctx, st.DB(ctx), "s")
	if err != nil || len(levels) != 1 || levels[0].Sellable != 1000-int64(n) || levels[0].Reserved != int64(n) {
		t.Fatalf("stock after %d orders: %+v, %v", n, levels, err)
	}
}

func TestRelayDeliversEveryEventAtLeastOnce(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		placeOrders(t, st, 25)
		relay := outbox.New(st, outbox.Options{Batch: 10})
		var mu sync.Mutex
		seen := map[string]int{}
		failOnce := map[string]bool{"e0003": true}
		relay.Subscribe("counter", "order.placed", func(_ context.Context, e outbox.Event) error {
			mu.Lock()
			defer mu.Unlock()
			seen[e.ID]++
			if failOnce[e.ID] {
				delete(failOnce, e.ID)
				return errors.New("subscriber hiccup")
			}
			return nil
		})
		relay.Subscribe("other-topic", "order.transitioned", func(context.Context, outbox.Event) error {
			t.Error("delivered an event to a subscriber of another topic")
			return nil
		})
		for range 5 {
			if _, err := relay.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if len(seen) != 25 {
			t.Fatalf("delivered %d distinct events, want 25", len(seen))
		}
		if seen["e0003"] != 2 {
			t.Fatalf("the failed event was delivered %d times, want 2 (redelivered after the failure)", seen["e0003"])
		}
		pending, err := st.PendingEvents(t.Context(), 100)
		if err != nil || len(pending) != 0 {
			t.Fatalf("pending after delivery: %d, %v", len(pending), err)
		}
	})
}

func TestRelayRunStopsWithItsContext(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite)
	placeOrders(t, st, 3)
	relay := outbox.New(st, outbox.Options{Interval: 5 * time.Millisecond})
	got := make(chan string, 10)
	relay.Subscribe("all", "", func(_ context.Context, e outbox.Event) error { got <- e.ID; return nil })
	relay.Subscribe("panics", "", func(_ context.Context, e outbox.Event) error {
		if e.Attempt == 0 && e.ID == "e0001" {
			panic("bad subscriber")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { relay.Run(ctx); close(done) }()
	ids := map[string]bool{}
	for len(ids) < 3 {
		ids[<-got] = true
	}
	cancel()
	<-done
}
