package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/reconcile"
	"github.com/tmf-platform/tmf/platform/store"
)

// moneyJourneys walks the console's order actions and money pages (issue
// 20): ship an order; cancel a paid one with a reason after a refused
// stale attempt that kept the reason; retry the refund the sandbox
// declined; approve a return and confirm receipt (refund seen); open a
// planted reconciliation mismatch and mark it resolved; the event stream
// and purchase limit pages. The server's sandbox declines its first refund
// (TestConsoleJourneys).
func moneyJourneys(journey func(string, func(*testing.T)), b *browser, base, dbPath string) {
	place := func(t *testing.T, key string) string {
		t.Helper()
		status, out := apiCall(t, base, "demo-alice", "POST", "/v1/orders",
			`{"items":[{"sku":"case-x","quantity":1}],"shippingAddress":{"region":"east","line1":"1 Bund"}}`, "Idempotency-Key", key)
		if status != http.StatusCreated {
			t.Fatalf("placing an order: %d %v", status, out)
		}
		return out["id"].(string)
	}
	pay := func(t *testing.T, id, key string) {
		t.Helper()
		status, out := apiCall(t, base, "demo-alice", "POST", "/v1/orders/"+id+"/payments", `{"card":{"number":"4242424242424242"}}`,
			"Idempotency-Key", key)
		if status != http.StatusOK {
			t.Fatalf("paying %s: %d %v", id, status, out)
		}
	}
	orderStatus := func(t *testing.T, id string) string {
		t.Helper()
		_, out := apiCall(t, base, testAdminToken, "GET", "/v1/orders/"+id, "")
		s, _ := out["status"].(string)
		return s
	}
	// refunds lists the states of an order's refunds.
	refunds := func(t *testing.T, id string) []string {
		t.Helper()
		_, out := apiCall(t, base, testAdminToken, "GET", "/v1/orders/"+id+"/payments", "")
		var states []string
		ps, _ := out["payments"].([]any)
		for _, p := range ps {
			if m := p.(map[string]any); m["kind"] == "refund" {
				states = append(states, m["state"].(string))
			}
		}
		return states
	}
	var shipped, cancelled string
	// refundShown: the order page's payments list a succeeded refund.
	const refundShown = `[...document.querySelectorAll("#order-payments tbody tr.payment-succeeded")].some((r) => r.cells[1].textContent === "refund")`

	journey("order actions: ship, and cancel with a reason after a stale read", func(t *testing.T) {
		b.t = t
		shipped = place(t, "console-ship")
		pay(t, shipped, "console-ship-pay")
		b.open("#/orders/" + shipped)
		b.waitText("#order-actions-status", "pending_outbound")
		b.waitText("#order-payments", "charge", "succeeded")
		b.screenshot("order-actions")
		b.click("#order-event-ship")
		b.waitText("#status", "Fired ship", "pending_inbound")
		b.waitText("#order-status", "pending_inbound")
		if got := orderStatus(t, shipped); got != "pending_inbound" {
			t.Fatalf("after Ship the order is %s", got)
		}
		b.screenshot("order-shipped")

		// The page reads the order unpaid; the buyer pays meanwhile: the
		// cancel sent with the page's version is refused, the reason kept.
		cancelled = place(t, "console-cancel")
		b.open("#/orders/" + cancelled)
		b.waitText("#order-actions-status", "pending_payment")
		b.click("#order-event-cancel")
		b.waitText("#order-event-reason-error", "reason")
		b.fill("#order-event-reason", "buyer phoned: a duplicate order")
		pay(t, cancelled, "console-cancel-pay")
		b.click("#order-event-cancel")
		b.waitText("#order-actions-error", "order_stale", "What you typed is kept")
		if got := b.value("#order-event-reason"); got != "buyer phoned: a duplicate order" {
			t.Fatalf("after the refusal the reason holds %q", got)
		}
		if got := orderStatus(t, cancelled); got != "pending_outbound" {
			t.Fatalf("the stale cancel moved the order to %s", got)
		}
		b.screenshot("order-stale-reason-kept")
		b.click("#order-actions-reload")
		b.waitText("#order-actions-status", "pending_outbound")
		if got := b.value("#order-event-reason"); got != "buyer phoned: a duplicate order" {
			t.Fatalf("after the reload the reason holds %q", got)
		}
		// Paid and not shipped: cancelling refunds, so the console asks.
		b.click("#order-event-cancel")
		b.waitText("#confirm-dialog", "refunds 64.00 CNY")
		b.screenshot("order-cancel-confirm")
		b.click("#confirm-no")
		b.waitTrue("the dialog gone", `!document.querySelector("#confirm-dialog")`)
		if got := orderStatus(t, cancelled); got != "pending_outbound" {
			t.Fatalf("after Keep the order it is %s", got)
		}
		b.click("#order-event-cancel")
		b.click("#confirm-yes")
		b.waitText("#status", "Fired cancel", "cancelled")
		b.waitText("#order-history", "buyer phoned: a duplicate order", "admin")
		b.waitText("#order-payments", "refund")
		b.screenshot("order-cancelled")
	})

	journey("retry a failed refund", func(t *testing.T) {
		b.t = t
		// The sandbox declines this first refund for good.
		b.waitFor("the cancelled order's refund declined", func() bool {
			return fmt.Sprint(refunds(t, cancelled)) == "[failed]"
		})
		b.open("#/refunds")
		b.waitText("#refunds-table", cancelled, "refund_declined", "64.00 CNY")
		b.screenshot("failed-refunds")
		b.click("#refunds-table button[data-id]")
		b.waitText("#confirm-dialog", "Retry the refund of 64.00 CNY")
		b.screenshot("refund-retry-confirm")
		b.click("#confirm-yes")
		b.waitText("#status", "Refund retried", cancelled)
		b.waitText("#refunds-none", "No failed refund")
		b.waitFor("the retried refund paid", func() bool {
			return fmt.Sprint(refunds(t, cancelled)) == "[failed succeeded]"
		})
		b.open("#/orders/" + cancelled)
		b.waitText("#order-payments", "refund_declined")
		b.waitTrue("the retried refund shown paid", refundShown)
		b.screenshot("refund-retried")
	})

	journey("approve a return and confirm receipt", func(t *testing.T) {
		b.t = t
		if status, out := apiCall(t, base, "demo-alice", "POST", "/v1/orders/"+shipped+"/returns", `{"items":[{"sku":"case-x","quantity":1}]}`,
			"Idempotency-Key", "ret-console"); status != http.StatusCreated {
			t.Fatalf("opening a return: %d %v", status, out)
		}
		b.open("#/orders/" + shipped)
		b.waitText("#return-state-ret-console", "requested")
		b.screenshot("return-requested")
		b.click("#return-approve-ret-console")
		b.waitText("#status", "Return ret-console is approved")
		b.waitText("#return-state-ret-console", "approved")
		b.click("#return-receive-ret-console")
		b.waitText("#confirm-dialog", "1 × case-x", "refunds")
		b.screenshot("return-receive-confirm")
		b.click("#confirm-yes")
		b.waitText("#status", "Return ret-console is received", "refunded")
		b.waitText("#return-state-ret-console", "received")
		b.waitFor("the return's refund paid", func() bool {
			return fmt.Sprint(refunds(t, shipped)) == "[succeeded]"
		})
		b.open("#/orders") // the same URL again would not load the page anew
		b.open("#/orders/" + shipped)
		b.waitTrue("the return's refund shown paid", refundShown)
		b.waitText("#order-returns", "approved → received by admin")
		b.screenshot("return-refunded")
	})

	journey("a reconciliation mismatch resolved", func(t *testing.T) {
		b.t = t
		st, err := store.Open(t.Context(), dbPath)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		now := time.Now().UTC()
		run := strings.Repeat("ab", 16)
		m := reconcile.Mismatch{Check: "money", Issue: "owed_mismatch", Subject: "order:" + shipped, OrderID: shipped,
			Detail:   "the order owes 49.00 CNY but 98.00 CNY was captured",
			Evidence: `{"owed":4900,"captured":9800,"refunded":0,"payments":["pay_planted"]}`, Status: "open",
			FirstRunID: run, LastRunID: run, CreatedAt: now, UpdatedAt: now}
		if err := st.DB(t.Context()).Create(&m).Error; err != nil {
			t.Fatalf("planting a mismatch: %v", err)
		}
		b.open("#/reconciliation")
		b.waitText("#recon-mismatches", "owed_mismatch", shipped)
		b.screenshot("reconciliation")
		b.click(fmt.Sprintf("#mismatch-link-%d", m.ID))
		b.waitText("#mismatch-evidence", `"captured": 9800`, "pay_planted")
		b.click("#mismatch-resolve")
		b.waitText("#mismatch-note-error", "Write what was found")
		b.fill("#mismatch-note", "double capture refunded by hand at the acquirer, ticket 4411")
		b.screenshot("mismatch-open")
		b.click("#mismatch-resolve")
		b.waitText("#status", fmt.Sprintf("Mismatch #%d is resolved", m.ID))
		b.waitText("#mismatch-status", "resolved")
		b.waitText("#mismatch-resolved", "by admin", "ticket 4411")
		b.screenshot("mismatch-resolved")
		_, out := apiCall(t, base, testAdminToken, "GET", fmt.Sprintf("/v1/admin/reconciliation/mismatches/%d", m.ID), "")
		if out["status"] != "resolved" || out["resolvedBy"] != "admin" {
			t.Fatalf("the mismatch after resolving: %v", out)
		}
	})

	journey("the event stream, purchase limits and the order search", func(t *testing.T) {
		b.t = t
		b.open("#/events")
		b.waitText("#events-backlog", "not yet relayed")
		b.waitText("#events-nats", "no broker")
		b.waitText("#events-webhooks", "Pending deliveries")
		b.screenshot("event-stream")
		b.open("#/limits")
		b.waitText("#limit-row-virtual-two-a-day", "virtual", "two-a-day", "per UTC day", "2 units")
		b.open("#/orders")
		b.setValue("#order-filter-statuses", "cancelled")
		b.fill("#order-filter-buyer", "alice")
		b.fill("#order-filter-limit", "5")
		b.click("#order-search")
		b.waitText("#orders-table", cancelled, "cancelled")
	})
}
