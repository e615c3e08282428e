package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tmf-platform/tmf/platform/store"
)

// Placing an order reserves stock in the same transaction as the order, and
// a later lifecycle step moves it on; an order that finds too little stock
// writes nothing.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "tmf-example")
	defer os.RemoveAll(dir)
	s, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "tmf.db"))
	if err != nil {
		panic(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		panic(err)
	}
	if _, err := s.SetSellable(ctx, "tea-1", "hangzhou", 2, "first delivery"); err != nil {
		panic(err)
	}

	place := func(id string, qty int64) error {
		return s.CreateOrder(ctx, store.NewOrder{
			Order: store.Order{ID: id, BizCode: "retail", BuyerID: "alice", Status: store.StatusPendingPayment, Currency: "CNY",
				Lines: []store.OrderLine{{SKU: "tea-1", Quantity: qty, UnitPrice: 12800, LineTotal: 12800 * qty}}},
			Reservations: []store.Reservation{{SKU: "tea-1", Location: "hangzhou", Quantity: qty}},
			History:      store.OrderHistory{Event: "place", Actor: "alice"},
			Events:       []store.OutboxEvent{{Topic: "order.created", Payload: `{"id":"` + id + `"}`}},
		})
	}
	fmt.Println("o-1:", place("o-1", 2))
	var oos *store.OutOfStockError
	if err := place("o-2", 1); errors.As(err, &oos) {
		fmt.Printf("o-2: out of stock: %d of %s requested\n", oos.Requested, oos.SKU)
	}

	o, err := s.TransitionOrder(ctx, store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "paid",
		Moves:                []store.StockChange{{SKU: "tea-1", Location: "hangzhou", Quantity: 2, Kind: store.MoveConfirm}},
		ClearPaymentDeadline: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(o.ID, o.Status, "version", o.Version)
	_, err = s.TransitionOrder(ctx, store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "cancelled"})
	fmt.Println("stale transition:", errors.Is(err, store.ErrVersionConflict))

	levels, _ := s.StockLevels(ctx, "tea-1")
	l := levels[0]
	fmt.Printf("sellable %d reserved %d frozen %d\n", l.Sellable, l.Reserved, l.Frozen)
	audit, _ := s.AuditStock(ctx)
	events, _ := s.PendingEvents(ctx, 10)
	fmt.Println("discrepancies:", len(audit), "pending events:", len(events))
	// Output:
	// o-1: <nil>
	// o-2: out of stock: 1 of tea-1 requested
	// o-1 paid version 2
	// stale transition: true
	// sellable 0 reserved 0 frozen 2
	// discrepancies: 0 pending events: 1
}
