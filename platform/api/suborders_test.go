package api_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// TestSubOrdersThroughTheAPI: an order whose lines are stocked at two
// locations is placed as a parent with two sub-orders; the parent is paid
// once, a sub-order is cancelled on its own and refunded its share, and
// lists show the parent with its sub-orders or a parent's sub-orders.
func TestSubOrdersThroughTheAPI(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		for _, loc := range []string{"wh-a", "wh-b"} {
			expect(t, e.do("PUT", "/v1/locations/"+loc, adminToken, map[string]any{"regions": []string{"CN-31"}, "priority": 5}), 200, "")
		}
		for _, s := range []struct{ sku, loc string }{{"kettle", "wh-a"}, {"mug", "wh-b"}} {
			expect(t, e.do("PUT", "/v1/skus/"+s.sku, adminToken, map[string]any{"title": s.sku, "price": 2000, "currency": "CNY",
				"category": "kitchen", "weightGrams": 400}), 200, "")
			expect(t, e.do("PUT", "/v1/stock/"+s.sku, adminToken, map[string]any{"sellable": 10, "location": s.loc}), 200, "")
		}
		alice := e.principal("alice", "buyer")
		body := map[string]any{"items": []map[string]any{{"sku": "kettle", "quantity": 1}, {"sku": "mug", "quantity": 2}},
			"shippingAddress": map[string]any{"region": "CN-31", "city": "Shanghai", "line1": "1 Bund"}}
		p := e.place(alice, "split-1", body)
		if len(p.SubOrders) != 2 || p.Location != "" || p.ParentID != "" || p.Status != "pending_payment" || len(p.Items) != 2 {
			t.Fatalf("parent = %+v", p)
		}
		// The same key answers the same parent.
		if again := e.place(alice, "split-1", body); again.ID != p.ID || len(again.SubOrders) != 2 {
			t.Fatalf("replay = %+v", again)
		}
		kidA, kidB := p.SubOrders[0], p.SubOrders[1]
		if p.Amounts.Total != kidA.Amounts.Total+kidB.Amounts.Total {
			t.Fatalf("sub-orders %d + %d, parent %d", kidA.Amounts.Total, kidB.Amounts.Total, p.Amounts.Total)
		}
		r := e.do("GET", "/v1/orders/"+kidB.ID, alice, nil)
		expect(t, r, 200, "")
		if v := decodeView(t, r); v.ParentID != p.ID || v.Location != "wh-b" || len(v.AvailableEvents) != 0 {
			t.Fatalf("sub-order = %+v", v)
		}
		expect(t, e.pay(alice, kidA.ID, "pay-kid", cardOK), 409, order.CodeEventNotAllowed)
		expect(t, e.do("POST", "/v1/orders/"+kidA.ID+"/events", alice, map[string]any{"event": "cancel"}), 409, order.CodeEventNotAllowed)
		r = e.pay(alice, p.ID, "pay-1", cardOK)
		expect(t, r, 200, "")
		paid := decodeJSON[order.PayResult](t, r)
		if paid.Order.Status != order.StatusPaid || paid.Payment.Amount != p.Amounts.Total || len(paid.Order.SubOrders) != 2 {
			t.Fatalf("pay = %+v", paid)
		}
		c := e.fire(alice, kidA.ID, "cancel", map[string]string{"reason": "changed my mind"})
		if c.Status != "cancelled" || c.ParentID != p.ID {
			t.Fatalf("cancelled sub-order = %+v", c)
		}
		e.relayRefunds()
		r = e.do("GET", "/v1/orders/"+p.ID+"/payments", alice, nil)
		expect(t, r, 200, "")
		var refunded int64
		for _, pay := range decodeJSON[struct{ Payments []map[string]any }](t, r).Payments {
			if pay["kind"] == "refund" && pay["state"] == "succeeded" {
				refunded += int64(pay["amount"].(float64))
			}
		}
		if refunded != kidA.Amounts.Total {
			t.Fatalf("refunded %d, the sub-order's share is %d", refunded, kidA.Amounts.Total)
		}

		// A plain order next to the family.
		plain := e.place(alice, "plain", map[string]any{"items": []map[string]any{{"sku": "kettle", "quantity": 1}},
			"shippingAddress": map[string]any{"region": "CN-31", "city": "Shanghai", "line1": "1 Bund"}})
		if plain.ParentID != "" || plain.SubOrders != nil || plain.Location != "wh-a" {
			t.Fatalf("plain = %+v", plain)
		}
		idsOf := func(vs []order.View) []string {
			out := []string{}
			for _, v := range vs {
				out = append(out, v.ID)
			}
			return out
		}
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"", []string{p.ID, kidA.ID, kidB.ID, plain.ID}},
			{"&topLevel=true", []string{p.ID, plain.ID}},
			{"&parentId=" + p.ID, []string{kidA.ID, kidB.ID}},
			{"&status=paid", []string{p.ID}},
		} {
			got := idsOf(e.orders(alice, tc.query, 1))
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("list %q = %v, want %v", tc.query, got, want)
			}
		}
		for _, v := range e.orders(alice, "&topLevel=true", 10) {
			if v.ID == p.ID && len(v.SubOrders) != 2 {
				t.Fatalf("listed parent without its sub-orders: %+v", v)
			}
		}
		for _, q := range []string{"parentId=", "topLevel=maybe", fmt.Sprintf("parentId=%s&topLevel=true", p.ID)} {
			expect(t, e.do("GET", "/v1/orders?"+q, alice, nil), 400, "")
		}
	})
}
