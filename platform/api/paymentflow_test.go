package api_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Payments through the API as a recoverable flow: a lost answer is
// finished by the same key; a capture that lands on a cancelled order is
// refunded and its key says so; a refund the processor refuses is shown by
// the money audit and the failed list until an admin retries it.
func TestPaymentRecoveryThroughTheAPI(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.skuW("lamp", 3000, "home", 200, 10)
		alice := e.principal("alice", "buyer")
		addr := map[string]any{"region": "CN-31", "line1": "1 Bund"}
		items := map[string]any{"items": []map[string]any{{"sku": "lamp", "quantity": 1}}, "shippingAddress": addr}
		audit := func() api.MoneyAuditView {
			r := e.do("GET", "/v1/admin/payments/audit", adminToken, nil)
			expect(t, r, 200, "")
			return decodeJSON[api.MoneyAuditView](t, r)
		}

		// The capture's answer is lost: 503, and the same key finishes it.
		o := e.place(alice, "p-1", items)
		expect(t, e.pay(alice, o.ID, "k", payment.CardAnswerLost), 503, "payment_processor_unavailable")
		r := e.pay(alice, o.ID, "k", payment.CardAnswerLost)
		expect(t, r, 200, "")
		if got := paymentSummary(e.payments(alice, o.ID)); !slices.Equal(got, []string{"charge:succeeded:" + itoa(o.Amounts.Total)}) {
			t.Fatalf("after the retry: %v", got)
		}

		// Lost again, then the buyer cancels: the retry finds the capture and refunds it.
		c := e.place(alice, "p-2", items)
		expect(t, e.pay(alice, c.ID, "k", payment.CardAnswerLost), 503, "payment_processor_unavailable")
		if v := e.fire(alice, c.ID, "cancel", nil); v.Status != "cancelled" {
			t.Fatalf("cancel %+v", v)
		}
		r = e.pay(alice, c.ID, "k", payment.CardAnswerLost)
		expect(t, r, 409, "event_not_allowed")
		if p := r.json(t); p["paymentId"] == "" || p["orderStatus"] != "cancelled" {
			t.Fatalf("late capture %s", r)
		}
		e.relayRefunds()
		want := []string{"charge:succeeded:" + itoa(c.Amounts.Total), "refund:succeeded:" + itoa(c.Amounts.Total)}
		if got := paymentSummary(e.payments(alice, c.ID)); !slices.Equal(got, want) {
			t.Fatalf("late capture payments %v, want %v", got, want)
		}

		// A refund the processor refuses: the audit and the failed list show it
		// until an admin retries it.
		f := e.place(alice, "p-3", items)
		expect(t, e.pay(alice, f.ID, "k", payment.CardRefundDeclined), 200, "")
		e.fire(alice, f.ID, "cancel", nil)
		e.relayRefunds()
		a := audit()
		if a.Clean || len(a.Problems) != 2 || a.Orders != 3 {
			t.Fatalf("audit with a refused refund: %+v", a)
		}
		for _, p := range a.Problems {
			if p.OrderID != f.ID || (p.Issue != "failed_refund" && p.Issue != "owed_mismatch") {
				t.Fatalf("problem %+v", p)
			}
		}
		failed := decodeJSON[api.FailedRefundList](t, e.do("GET", "/v1/admin/payments/refunds/failed", adminToken, nil))
		if len(failed.Refunds) != 1 {
			t.Fatalf("failed refunds %+v", failed)
		}
		r = e.do("POST", "/v1/admin/payments/"+failed.Refunds[0].ID+"/retry", adminToken, nil)
		expect(t, r, 201, "")
		if p := decodeJSON[payment.Payment](t, r); p.State != "pending" || p.Amount != f.Amounts.Total {
			t.Fatalf("retry %s", r)
		}
		// The card still refuses: the retry fails too and is listed in its turn.
		e.relayRefunds()
		failed = decodeJSON[api.FailedRefundList](t, e.do("GET", "/v1/admin/payments/refunds/failed", adminToken, nil))
		if len(failed.Refunds) != 1 || !strings.HasSuffix(failed.Refunds[0].IdemKey, "/retry/1") || audit().Clean {
			t.Fatalf("after a retry the processor refused again: %+v", failed)
		}
		// The retry is in the admin audit log.
		if r := e.do("GET", "/v1/admin/audit", adminToken, nil); r.status != 200 || !strings.Contains(string(r.raw), api.ActionPaymentsRetry) {
			t.Fatalf("audit log %s", r)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
