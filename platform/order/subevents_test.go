package order_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// TestSplitOrderEventsCarryItems: every order event of a family carries the
// lines of its order: the parent's (order.placed, order.paid,
// order.completed, order.cancelled, order.timed_out) all the sub-orders'
// lines and the sub-orders as they are after the change; each sub-order's
// its own lines.
func TestSplitOrderEventsCarryItems(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		svc := subFixture(t, st)
		ctx := t.Context()
		skus := func(items []order.LineView) string {
			var s []string
			for _, l := range items {
				s = append(s, fmt.Sprintf("%s×%d", l.SKU, l.Quantity))
			}
			slices.Sort(s)
			return strings.Join(s, ",")
		}
		const all = "kettle×1,mug×2,plate×1"

		// Paid, one sub-order cancelled, one completed, one failed outbound.
		done, err := svc.Place(ctx, order.Buyer{ID: "alice"}, threeLines, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Pay(ctx, done.ID, card("k")); err != nil {
			t.Fatal(err)
		}
		k := done.SubOrders
		for _, f := range []struct{ id, ev string }{{k[0].ID, lifecycle.EventCancel}, {k[1].ID, lifecycle.EventShip},
			{k[1].ID, lifecycle.EventReceive}, {k[2].ID, lifecycle.EventOutboundFail}} {
			if _, err := svc.Fire(ctx, f.id, order.Event{Name: f.ev, Actor: "ops", Data: map[string]string{"reason": "test"}}); err != nil {
				t.Fatalf("%s %s: %v", f.ev, f.id, err)
			}
		}
		// Cancelled before payment; timed out.
		cancelled, err := svc.Place(ctx, order.Buyer{ID: "bob"}, threeLines, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Fire(ctx, cancelled.ID, order.Event{Name: lifecycle.EventCancel, Actor: "bob"}); err != nil {
			t.Fatal(err)
		}
		timedOut, err := svc.Place(ctx, order.Buyer{ID: "carol"}, threeLines, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.TimeOut(ctx, timedOut.ID, "system"); err != nil {
			t.Fatal(err)
		}

		cases := []struct {
			name   string
			parent order.View
			// types are the parent's order events, in order; statuses its
			// sub-orders' in its last event.
			types    []string
			statuses string
			// kids are each sub-order's order events.
			kids [][]string
		}{
			{"paid, then each sub-order its own way", done,
				[]string{events.OrderPlaced, events.OrderPaid, events.OrderCompleted}, "cancelled,completed,outbound_failed",
				[][]string{{events.OrderPlaced, events.OrderPaid, events.OrderCancelled},
					{events.OrderPlaced, events.OrderPaid, events.OrderShipped, events.OrderCompleted},
					{events.OrderPlaced, events.OrderPaid, events.OrderOutboundFailed}}},
			{"cancelled before payment", cancelled,
				[]string{events.OrderPlaced, events.OrderCancelled}, "cancelled,cancelled,cancelled",
				[][]string{{events.OrderPlaced, events.OrderCancelled}, {events.OrderPlaced, events.OrderCancelled}, {events.OrderPlaced, events.OrderCancelled}}},
			{"timed out", timedOut,
				[]string{events.OrderPlaced, events.OrderTimedOut}, "cancelled,cancelled,cancelled",
				[][]string{{events.OrderPlaced, events.OrderTimedOut}, {events.OrderPlaced, events.OrderTimedOut}, {events.OrderPlaced, events.OrderTimedOut}}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var types []string
				var last order.View
				for i, v := range orderEvents(t, st, tc.parent.ID, &types) {
					if got := skus(v.Items); got != all {
						t.Fatalf("parent event %s carries items %q, want %q", types[i], got, all)
					}
					last = v
				}
				if strings.Join(types, " ") != strings.Join(tc.types, " ") {
					t.Fatalf("parent events %v, want %v", types, tc.types)
				}
				var st2 []string
				for _, s := range last.SubOrders {
					st2 = append(st2, s.Status)
				}
				if strings.Join(st2, ",") != tc.statuses {
					t.Fatalf("sub-orders in the parent's last event: %v, want %s", st2, tc.statuses)
				}
				for i, s := range tc.parent.SubOrders {
					var types []string
					for j, v := range orderEvents(t, st, s.ID, &types) {
						if got, want := skus(v.Items), skus(s.Items); got != want || v.ParentID != tc.parent.ID {
							t.Fatalf("sub-order %s event %s: items %q parent %q, want %q and %s", s.ID, types[j], got, v.ParentID, want, tc.parent.ID)
						}
					}
					if strings.Join(types, " ") != strings.Join(tc.kids[i], " ") {
						t.Fatalf("sub-order %s events %v, want %v", s.ID, types, tc.kids[i])
					}
				}
			})
		}
	})
}

// orderEvents are the orders carried by the order.* events of id (the
// order.placed payload itself, a transition's "order"), in the order they
// were written; their types are appended to types.
func orderEvents(t *testing.T, st *store.Store, id string, types *[]string) []order.View {
	t.Helper()
	var evs []store.OutboxEvent
	if err := st.DB(t.Context()).Where("aggregate_id = ? AND topic IN ?", id, events.LifecycleTypes()).Order("version").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	var out []order.View
	for _, e := range evs {
		var p struct {
			Order *order.View `json:"order"`
		}
		var v order.View
		if err := json.Unmarshal([]byte(e.Payload), &p); err != nil {
			t.Fatal(err)
		}
		if p.Order != nil {
			v = *p.Order
		} else if err := json.Unmarshal([]byte(e.Payload), &v); err != nil {
			t.Fatal(err)
		}
		*types = append(*types, e.Topic)
		out = append(out, v)
	}
	return out
}
