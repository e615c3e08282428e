package api_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/events/eventstest"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// The journeys through the API write the catalogue's typed events: one per
// lifecycle step with the order's identity and version, the stock level
// crossings, the refund owed and paid, the failed charge; every event they
// write matches its schema (checked here and, for every API test, by the
// eventstest hook when the test ends).
func TestEventsOfTheJourneys(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.sku("kettle", 4500, "kitchen", false, 12)
		e.sku("last-one", 900, "kitchen", false, 1)
		e.sku("topup-50", 4980, "topup", true, 1000)
		alice, ops := e.principal("alice", "buyer"), e.principal("ops", "operator")

		n := 0
		place := func(sku string, qty int64) string {
			t.Helper()
			n++
			r := e.do("POST", "/v1/orders", alice, retailBody(sku, qty), "Idempotency-Key", fmt.Sprintf("ev-%d", n))
			expect(t, r, 201, "")
			return decodeView(t, r).ID
		}
		// Shipped and received: placed, paid, shipped, completed; 12 → 10
		// is not below the threshold (10).
		a := place("kettle", 2)
		expect(t, e.pay(alice, a, "pay-a", cardOK), 200, "")
		e.fire(ops, a, "ship", nil)
		e.fire(ops, a, "receive", nil)
		// 10 → 7: stock.low; cancelled unpaid (back to 10).
		b := place("kettle", 3)
		e.fire(alice, b, "cancel", map[string]string{"reason": "changed my mind"})
		// The last unit: stock.out.
		c := place("last-one", 1)
		// Paid then cancelled: order.cancelled and the refund owed, then paid.
		d := place("kettle", 1)
		expect(t, e.pay(alice, d, "pay-d", cardOK), 200, "")
		e.fire(alice, d, "cancel", nil)
		e.relayRefunds()
		// A declined card: payment.charge_failed; the order waits.
		f := place("kettle", 1)
		expect(t, e.pay(alice, f, "pay-f", cardDeclined), 402, "")
		// Virtual goods complete on payment: order.completed with event pay.
		r := e.do("POST", "/v1/orders", alice, map[string]any{"items": []map[string]any{{"sku": "topup-50", "quantity": 1}}},
			"Idempotency-Key", "ev-top")
		expect(t, r, 201, "")
		top := decodeView(t, r).ID
		expect(t, e.pay(alice, top, "pay-top", cardOK), 200, "")

		var rows []store.OutboxEvent
		if err := st.DB(t.Context()).Order("created_at").Order("id").Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		steps := map[string][]string{}   // order → lifecycle types by version
		versions := map[string][]int64{} // order → versions of its lifecycle events
		topics := map[string]int{}
		for _, row := range rows {
			topics[row.Topic]++
			if !slices.Contains(events.LifecycleTypes(), row.Topic) {
				continue
			}
			if row.BizCode == "" || row.Version < 1 {
				t.Errorf("%s %s of %s: bizCode %q version %d", row.Topic, row.ID, row.AggregateID, row.BizCode, row.Version)
			}
			steps[row.AggregateID] = append(steps[row.AggregateID], row.Topic)
			versions[row.AggregateID] = append(versions[row.AggregateID], row.Version)
		}
		want := map[string][]string{
			a:   {events.OrderPlaced, events.OrderPaid, events.OrderShipped, events.OrderCompleted},
			b:   {events.OrderPlaced, events.OrderCancelled},
			c:   {events.OrderPlaced},
			d:   {events.OrderPlaced, events.OrderPaid, events.OrderCancelled},
			f:   {events.OrderPlaced},
			top: {events.OrderPlaced, events.OrderCompleted},
		}
		for id, w := range want {
			if !slices.Equal(steps[id], w) {
				t.Errorf("order %s: lifecycle events %q, want %q", id, steps[id], w)
			}
			for i, v := range versions[id] {
				if v != int64(i+1) {
					t.Errorf("order %s: versions %v, want 1, 2, …", id, versions[id])
					break
				}
			}
		}
		// Each placement that crosses the threshold announces it: b (10 →
		// 7), then d and f (10 → 9, after b and d gave their stock back).
		for typ, n := range map[string]int{events.StockLow: 3, events.StockOut: 1, events.PaymentRefundDue: 1, events.PaymentRefunded: 1,
			events.PaymentChargeFailed: 1} {
			if topics[typ] != n {
				t.Errorf("%d %s events, want %d (all: %v)", topics[typ], typ, n, topics)
			}
		}
		for _, row := range rows {
			switch row.Topic {
			case events.OrderCompleted:
				var p struct{ Event, From string }
				if err := json.Unmarshal([]byte(row.Payload), &p); err != nil || (row.AggregateID == top && p.Event != "pay") ||
					(row.AggregateID == a && p.Event != "receive") {
					t.Errorf("order.completed of %s: %s", row.AggregateID, row.Payload)
				}
			case events.StockLow, events.StockOut:
				var p struct {
					SKU      string
					Sellable int64
					OrderID  string
				}
				_ = json.Unmarshal([]byte(row.Payload), &p)
				if (row.Topic == events.StockLow && (p.SKU != "kettle" || !(p.Sellable == 7 && p.OrderID == b ||
					p.Sellable == 9 && (p.OrderID == d || p.OrderID == f)))) ||
					(row.Topic == events.StockOut && (p.SKU != "last-one" || p.Sellable != 0 || p.OrderID != c)) {
					t.Errorf("%s: %s", row.Topic, row.Payload)
				}
			}
		}
		if err := eventstest.Verify(t.Context(), st); err != nil {
			t.Fatal(err)
		}
	})
}
