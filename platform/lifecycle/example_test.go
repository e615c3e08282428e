package lifecycle_test

import (
	"context"
	"fmt"

	"github.com/tmf-platform/tmf/platform/lifecycle"
)

func Example() {
	// A product redefines pay to confirm the reserved stock.
	graph, err := lifecycle.Default().Apply(lifecycle.Patch{
		RemoveEvents: []string{lifecycle.EventPay},
		AddEvents: []lifecycle.Event{{
			Name: lifecycle.EventPay, From: []string{lifecycle.PendingPayment}, To: lifecycle.PendingReview,
			Effects: []string{"confirm_stock"},
		}},
	})
	if err != nil {
		panic(err)
	}

	// Compile once, when the configuration changes.
	effects := map[string]lifecycle.Effect{
		"confirm_stock": {
			Do: func(_ context.Context, t lifecycle.Transition) error {
				fmt.Println("confirm stock, idempotency key", t.Key)
				return nil
			},
		},
	}
	compiled, err := lifecycle.Compile(graph, func(name string) (lifecycle.Effect, bool) {
		e, ok := effects[name]
		return e, ok
	})
	if err != nil {
		panic(err)
	}

	// Per request: rebuild the machine at the stored state and fire.
	m, err := compiled.Machine(lifecycle.PendingPayment)
	if err != nil {
		panic(err)
	}
	creditCheck := func(context.Context, lifecycle.Transition) error { return nil }
	commit := func(_ context.Context, t lifecycle.Transition) error {
		fmt.Printf("commit %s: %s -> %s at version %d\n", t.OrderID, t.From, t.To, t.Version)
		return nil
	}
	_, err = m.Fire(context.Background(), lifecycle.Request{OrderID: "order-7", Version: 3, Event: lifecycle.EventPay}, creditCheck, commit)
	if err != nil {
		panic(err)
	}
	fmt.Println("state:", m.State())
	fmt.Println("available:", m.AvailableEvents())

	_, err = m.Fire(context.Background(), lifecycle.Request{OrderID: "order-7", Version: 4, Event: lifecycle.EventShip}, nil, nil)
	fmt.Println(err)
	// Output:
	// confirm stock, idempotency key order-7/3/pay
	// commit order-7: pending_payment -> pending_review at version 3
	// state: pending_review
	// available: [approve cancel reject]
	// lifecycle: event "ship" is not allowed in state "pending_review" (allowed: approve, cancel, reject)
}
