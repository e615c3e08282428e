package order_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// familyLimits count threeLines (kettle from south-a, 2 mugs from south-b,
// a plate from south-c: three sub-orders) per SKU, per category and
// day, and by amount over the identity.
var familyLimits = []kernel.PurchaseLimit{
	{Name: "one-kettle", Scope: kernel.LimitScopeSKU, SKUs: []string{"kettle"}, Window: kernel.LimitWindowLifetime, Max: 1},
	{Name: "kitchen-day", Scope: kernel.LimitScopeCategory, Window: kernel.LimitWindowDay, Max: 5},
	{Name: "spend", Scope: kernel.LimitScopeIdentity, Window: kernel.LimitWindowLifetime, Measure: kernel.LimitMeasureAmount,
		Currency: "CNY", Max: 1_000_000},
}

// limitCounts are a buyer's counters under familyLimits.
type limitCounts struct{ Kettle, Kitchen, Table, Spend int64 }

// TestSubOrdersGiveBackTheirPurchaseLimits: a sub-order that ends unshipped
// (cancelled, outbound failed) gives back exactly its own lines' counts,
// once, when sibling cancellations race and when a cancellation is retried
// (concurrently and after); a parent cancelled or timed out before payment
// gives back everything once; a shipped sub-order keeps its counts.
func TestSubOrdersGiveBackTheirPurchaseLimits(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		svc := subFixture(t, st, familyLimits...)
		ctx := t.Context()
		used := func(t *testing.T, buyer string, day time.Time) limitCounts {
			t.Helper()
			get := func(limit, scope, window string) int64 {
				n, err := st.PurchaseUsed(ctx, "retail/"+limit, buyer, scope, window)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			d := "day:" + day.UTC().Format(time.DateOnly)
			return limitCounts{Kettle: get("one-kettle", "sku:kettle", "lifetime"), Kitchen: get("kitchen-day", "category:kitchen", d),
				Table: get("kitchen-day", "category:table", d), Spend: get("spend", "identity", "lifetime")}
		}
		// net is what a sub-order's lines count under "spend".
		net := func(k order.SubOrderView) (n int64) {
			for _, l := range k.Items {
				n += l.LineTotal - l.Discount
			}
			return n
		}
		// race fires fs at once; a refusal because another got there
		// first is expected, any other error fails the test.
		race := func(t *testing.T, fs ...func() error) {
			t.Helper()
			var wg sync.WaitGroup
			errs := make([]error, len(fs))
			for i, f := range fs {
				wg.Go(func() {
					var oe *order.Error
					if err := f(); err != nil && !(errors.As(err, &oe) && (oe.Code == order.CodeEventNotAllowed || oe.Code == order.CodeVersionConflict)) {
						errs[i] = err
					}
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
		}
		fire := func(id, ev string) func() error {
			return func() error {
				_, err := svc.Fire(ctx, id, order.Event{Name: ev, Actor: "ops", Data: map[string]string{"reason": "test"}})
				return err
			}
		}
		mustNotAllow := func(t *testing.T, id, ev string) {
			t.Helper()
			if err := fire(id, ev)(); code(err) != order.CodeEventNotAllowed {
				t.Fatalf("%s again on %s: %v, want event_not_allowed", ev, id, err)
			}
		}

		cases := []struct {
			name string
			paid bool
			// run moves the family p; it returns what the buyer's counters
			// must then be.
			run func(t *testing.T, p order.View) limitCounts
		}{
			{"sibling cancels race, each retried at once and after", true, func(t *testing.T, p order.View) limitCounts {
				k := p.SubOrders
				race(t, fire(k[0].ID, lifecycle.EventCancel), fire(k[0].ID, lifecycle.EventCancel),
					fire(k[1].ID, lifecycle.EventCancel), fire(k[1].ID, lifecycle.EventCancel))
				mustNotAllow(t, k[0].ID, lifecycle.EventCancel)
				mustNotAllow(t, k[1].ID, lifecycle.EventCancel)
				return limitCounts{Table: 1, Spend: net(k[2])}
			}},
			{"one ships, one fails outbound, one is cancelled", true, func(t *testing.T, p order.View) limitCounts {
				k := p.SubOrders
				for _, f := range []func() error{fire(k[1].ID, lifecycle.EventShip), fire(k[1].ID, lifecycle.EventReceive),
					fire(k[2].ID, lifecycle.EventOutboundFail), fire(k[0].ID, lifecycle.EventCancel)} {
					if err := f(); err != nil {
						t.Fatal(err)
					}
				}
				mustNotAllow(t, k[0].ID, lifecycle.EventCancel)
				return limitCounts{Kitchen: 2, Spend: net(k[1])}
			}},
			{"every sub-order cancelled at once with the parent", true, func(t *testing.T, p order.View) limitCounts {
				k := p.SubOrders
				race(t, fire(k[0].ID, lifecycle.EventCancel), fire(k[1].ID, lifecycle.EventCancel), fire(k[2].ID, lifecycle.EventCancel),
					fire(p.ID, lifecycle.EventCancel))
				mustNotAllow(t, p.ID, lifecycle.EventCancel)
				return limitCounts{}
			}},
			{"unpaid parent cancelled twice at once", false, func(t *testing.T, p order.View) limitCounts {
				race(t, fire(p.ID, lifecycle.EventCancel), fire(p.ID, lifecycle.EventCancel))
				mustNotAllow(t, p.ID, lifecycle.EventCancel)
				return limitCounts{}
			}},
			{"unpaid parent times out while cancelled", false, func(t *testing.T, p order.View) limitCounts {
				race(t, func() error { _, err := svc.TimeOut(ctx, p.ID, "system"); return err }, fire(p.ID, lifecycle.EventCancel))
				mustNotAllow(t, p.ID, lifecycle.EventCancel)
				return limitCounts{}
			}},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				buyer := fmt.Sprintf("limited-%d", i)
				p, err := svc.Place(ctx, order.Buyer{ID: buyer}, threeLines, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.SubOrders) != 3 || p.SubOrders[0].Items[0].SKU != "kettle" || p.SubOrders[1].Items[0].SKU != "mug" {
					t.Fatalf("family = %+v", p.SubOrders)
				}
				all := limitCounts{Kettle: 1, Kitchen: 3, Table: 1, Spend: net(p.SubOrders[0]) + net(p.SubOrders[1]) + net(p.SubOrders[2])}
				if got := used(t, buyer, p.CreatedAt); got != all {
					t.Fatalf("counters after placement = %+v, want %+v", got, all)
				}
				if tc.paid {
					if _, err := svc.Pay(ctx, p.ID, card("k")); err != nil {
						t.Fatal(err)
					}
				}
				want := tc.run(t, p)
				if got := used(t, buyer, p.CreatedAt); got != want {
					t.Fatalf("counters = %+v, want %+v", got, want)
				}
				// What was given back can be bought again, and no more.
				one := order.PlaceRequest{BizCode: "retail", ShippingAddress: south, Items: []order.Item{{SKU: "kettle", Quantity: 1}}}
				_, err = svc.Place(ctx, order.Buyer{ID: buyer}, one, nil)
				if want.Kettle == 0 && err != nil {
					t.Fatalf("a kettle after the first was given back: %v", err)
				}
				if want.Kettle == 1 && code(err) != order.CodePurchaseLimit {
					t.Fatalf("a second kettle: %v, want %s", err, order.CodePurchaseLimit)
				}
			})
		}
		audit(t, st)
	})
}
