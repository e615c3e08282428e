package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
)

// Placing an order reserves stock in a step of the order's transaction (the
// stock domain keeps its own tables in the same database), and a later
// lifecycle step moves it on; an order whose step refuses writes nothing.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "tmf-example")
	defer os.RemoveAll(dir)
	s, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "tmf.db"))
	if err != nil {
		panic(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil { // the store's tables and the domains'
		panic(err)
	}
	err = s.Tx(ctx, func(tx *gorm.DB) error {
		_, err := stock.SetSellable(ctx, tx, "tea-1", "hangzhou", 2, "first delivery")
		return err
	})
	if err != nil {
		panic(err)
	}

	place := func(id string, qty int64) error {
		return s.CreateOrder(ctx, store.NewOrder{
			Order: store.Order{ID: id, BizCode: "retail", BuyerID: "alice", Status: store.StatusPendingPayment, Currency: "CNY",
				Location: "hangzhou", Lines: []store.OrderLine{{SKU: "tea-1", Quantity: qty, UnitPrice: 12800, LineTotal: 12800 * qty}}},
			History: store.OrderHistory{Event: "place", Actor: "alice"},
			Events:  []store.OutboxEvent{{Topic: "order.created", Payload: `{"id":"` + id + `"}`}},
			Steps: []store.Step{func(ctx context.Context, tx *gorm.DB) error {
				return stock.Reserve(ctx, tx, stock.ReserveRequest{OrderID: id, Location: "hangzhou", BuyerID: "alice",
					Lines: []stock.LineQty{{LineNo: 1, SKU: "tea-1", Quantity: qty}}})
			}},
		})
	}
	fmt.Println("o-1:", place("o-1", 2))
	var oos *stock.OutOfStockError
	if err := place("o-2", 1); errors.As(err, &oos) {
		fmt.Printf("o-2: out of stock: %d of %s requested\n", oos.Requested, oos.SKU)
	}
	_, err = s.GetOrder(ctx, "o-2")
	fmt.Println("o-2 stored:", !errors.Is(err, store.ErrNotFound))

	o, err := s.TransitionOrder(ctx, store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "paid",
		Steps: []store.Step{func(ctx context.Context, tx *gorm.DB) error {
			return stock.Move(ctx, tx, "o-1", stock.KindConfirm)
		}},
		ClearPaymentDeadline: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(o.ID, o.Status, "version", o.Version)
	_, err = s.TransitionOrder(ctx, store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "cancelled"})
	fmt.Println("stale transition:", errors.Is(err, store.ErrVersionConflict))

	levels, _ := stock.Levels(ctx, s.DB(ctx), "tea-1")
	l := levels[0]
	fmt.Printf("sellable %d reserved %d frozen %d\n", l.Sellable, l.Reserved, l.Frozen)
	audit, _ := stock.Audit(ctx, s.DB(ctx))
	events, _ := s.PendingEvents(ctx, 10)
	fmt.Println("discrepancies:", len(audit), "pending events:", len(events))
	// Output:
	// o-1: <nil>
	// o-2: out of stock: 1 of tea-1 requested
	// o-2 stored: false
	// o-1 paid version 2
	// stale transition: true
	// sellable 0 reserved 0 frozen 2
	// discrepancies: 0 pending events: 1
}
