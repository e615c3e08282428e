package main

import (
	"fmt"
	"net/http"
	"testing"
)

// familyJourney walks a split order in the console (issue 19): two
// locations each stock one SKU, so an order of both is a parent with two
// sub-orders. The parent's page lists its sub-orders with their states and
// totals; a sub-order's page names its parent, shows the parent's charge,
// and cancels with a reason after confirming the refund of exactly its
// share; the refund is paid, and the parent's derived status follows
// (paid while the other sub-order is open, completed once it arrived).
// Run after moneyJourneys, which takes the sandbox's one declined refund.
func familyJourney(journey func(string, func(*testing.T)), b *browser, base string) {
	journey("a split order: the parent's sub-orders, cancel one", func(t *testing.T) {
		b.t = t
		admin := func(method, path, body string) map[string]any {
			t.Helper()
			status, out := apiCall(t, base, testAdminToken, method, path, body)
			if status != http.StatusOK {
				t.Fatalf("%s %s: %d %v", method, path, status, out)
			}
			return out
		}
		for _, loc := range []string{"split-a", "split-b"} {
			admin("PUT", "/v1/locations/"+loc, `{"regions":["east"],"priority":5}`)
		}
		for _, s := range []struct{ sku, loc string }{{"split-kettle", "split-a"}, {"split-mug", "split-b"}} {
			admin("PUT", "/v1/skus/"+s.sku, fmt.Sprintf(`{"title":%q,"price":3000,"currency":"CNY","category":"kitchen","weightGrams":400}`, s.sku))
			admin("PUT", "/v1/stock/"+s.sku, fmt.Sprintf(`{"sellable":10,"location":%q}`, s.loc))
		}
		status, p := apiCall(t, base, "demo-alice", "POST", "/v1/orders",
			`{"items":[{"sku":"split-kettle","quantity":1},{"sku":"split-mug","quantity":2}],"shippingAddress":{"region":"east","line1":"1 Bund"}}`,
			"Idempotency-Key", "console-split")
		subs, _ := p["subOrders"].([]any)
		if status != http.StatusCreated || len(subs) != 2 {
			t.Fatalf("placing a split order: %d %v", status, p)
		}
		parent := p["id"].(string)
		type kid struct {
			id, location string
			total        int64
		}
		var kids []kid
		for _, s := range subs {
			m := s.(map[string]any)
			kids = append(kids, kid{m["id"].(string), m["location"].(string), int64(m["amounts"].(map[string]any)["total"].(float64))})
		}
		money := func(minor int64) string { return fmt.Sprintf("%d.%02d CNY", minor/100, minor%100) }
		if status, out := apiCall(t, base, "demo-alice", "POST", "/v1/orders/"+parent+"/payments", `{"card":{"number":"4242424242424242"}}`,
			"Idempotency-Key", "console-split-pay"); status != http.StatusOK {
			t.Fatalf("paying %s: %d %v", parent, status, out)
		}

		b.open("#/orders/" + parent)
		b.waitText("#order-status", "paid")
		b.waitText("#order-suborders", kids[0].id, kids[1].id, "pending_outbound", kids[0].location, kids[1].location,
			"split-kettle × 1", "split-mug × 2", money(kids[0].total), money(kids[1].total))
		b.waitText("#order-payments", "charge", "succeeded")
		b.screenshot("order-suborders")

		// The first sub-order, from the parent's table.
		b.click(fmt.Sprintf(`#order-suborders a[href="#/orders/%s"]`, kids[0].id))
		b.waitText("#order-parent", parent)
		b.waitText("#order-actions-status", "pending_outbound")
		b.waitText("#order-payments-hint", "paid with its parent", money(kids[0].total))
		b.waitText("#order-payments", "charge", "succeeded")
		b.click("#order-event-cancel")
		b.waitText("#order-event-reason-error", "reason")
		b.fill("#order-event-reason", "the kettle is no longer wanted")
		b.click("#order-event-cancel")
		b.waitText("#confirm-dialog", "refunds "+money(kids[0].total))
		b.screenshot("suborder-cancel-confirm")
		b.click("#confirm-yes")
		b.waitText("#status", "Fired cancel", "cancelled")
		b.waitText("#order-history", "the kettle is no longer wanted")

		// The refund of exactly its share is paid from the parent's charge.
		refunds := func() []string {
			_, out := apiCall(t, base, testAdminToken, "GET", "/v1/orders/"+parent+"/payments", "")
			var got []string
			ps, _ := out["payments"].([]any)
			for _, x := range ps {
				if m := x.(map[string]any); m["kind"] == "refund" {
					got = append(got, fmt.Sprintf("%s %s %d", m["key"], m["state"], int64(m["amount"].(float64))))
				}
			}
			return got
		}
		want := fmt.Sprintf("[%s/refund/cancelled succeeded %d]", kids[0].id, kids[0].total)
		b.waitFor("the sub-order's refund paid", func() bool { return fmt.Sprint(refunds()) == want })
		b.open("#/orders/" + parent) // the same URL again would not load the page anew
		b.open("#/orders/" + kids[0].id)
		b.waitTrue("the sub-order's refund shown paid",
			`[...document.querySelectorAll("#order-payments tbody tr.payment-succeeded")].some((r) => r.cells[1].textContent === "refund")`)
		b.screenshot("suborder-cancelled")

		// The parent: paid while the other sub-order is open.
		b.click("#order-parent a")
		b.waitText("#order-status", "paid")
		b.waitText("#order-suborders", "cancelled", "pending_outbound")
		b.waitText("#order-payments", "refund", money(kids[0].total))
		b.screenshot("order-suborder-cancelled")

		// The other ships and arrives: the parent is completed.
		for _, ev := range []string{"ship", "receive"} {
			admin("POST", "/v1/orders/"+kids[1].id+"/events", fmt.Sprintf(`{"event":%q}`, ev))
		}
		b.open("#/orders/" + kids[1].id)
		b.open("#/orders/" + parent)
		b.waitText("#order-status", "completed")
		b.waitText("#order-suborders", "cancelled", "completed")
		b.screenshot("order-family-completed")
	})
}
