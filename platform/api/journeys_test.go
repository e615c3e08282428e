package api_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// skuW creates a SKU of a weight and sets its stock at "default".
func (e *env) skuW(name string, price int64, category string, weight, stock int64) {
	e.t.Helper()
	r := e.do("PUT", "/v1/skus/"+name, adminToken, map[string]any{"title": "Test " + name, "price": price, "currency": "CNY",
		"category": category, "weightGrams": weight})
	expect(e.t, r, 200, "")
	expect(e.t, e.do("PUT", "/v1/stock/"+name, adminToken, map[string]any{"sellable": stock}), 200, "")
}

// place places an order and expects it placed.
func (e *env) place(token, key string, body any) order.View {
	e.t.Helper()
	r := e.do("POST", "/v1/orders", token, body, "Idempotency-Key", key)
	expect(e.t, r, 201, "")
	return decodeView(e.t, r)
}

// promotion creates a promotion through the API.
func (e *env) promotion(id string, p map[string]any) promotion.Promotion {
	e.t.Helper()
	r := e.do("PUT", "/v1/admin/promotions/"+id, adminToken, p)
	expect(e.t, r, 201, "")
	return decodeJSON[api.PromotionView](e.t, r).Promotion
}

func (e *env) budget(id string) promotion.Budget {
	e.t.Helper()
	r := e.do("GET", "/v1/admin/promotions/"+id, adminToken, nil)
	expect(e.t, r, 200, "")
	return decodeJSON[api.PromotionView](e.t, r).Budget
}

func (e *env) coupon(token, code string) promotion.Coupon {
	e.t.Helper()
	r := e.do("GET", "/v1/coupons/"+code, token, nil)
	expect(e.t, r, 200, "")
	return decodeJSON[promotion.Coupon](e.t, r)
}

func (e *env) payments(token, id string) []payment.Payment {
	e.t.Helper()
	r := e.do("GET", "/v1/orders/"+id+"/payments", token, nil)
	expect(e.t, r, 200, "")
	return decodeJSON[api.PaymentList](e.t, r).Payments
}

// lineDiscounts are the discounts of an order's lines, in line order.
func lineDiscounts(v order.View) []int64 {
	var out []int64
	for _, l := range v.Items {
		out = append(out, l.Discount)
	}
	return out
}

// paymentSummary is "kind:state:amount" per payment, in order.
func paymentSummary(ps []payment.Payment) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s:%s:%d", p.Kind, p.State, p.Amount))
	}
	return out
}

// Standard retail through the REST API: a percentage off a category and
// a coupon with budgets, freight by weight, a card payment, shipping,
// receipt and a partial return refunded through the outbox; a coupon two
// orders race for; a declined card that gives everything back; a paid
// order cancelled and refunded.
func TestRetailJourney(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.skuW("kettle", 2500, "kitchen", 500, 10)
		e.skuW("novel", 1500, "books", 500, 20)
		alice, bob, ops := e.principal("alice", "buyer"), e.principal("bob", "buyer"), e.principal("ops", "operator")

		e.promotion("kitchen10", map[string]any{"name": "10% off kitchen", "kind": "percent_off", "group": "category",
			"conditions": map[string]any{"categories": []string{"kitchen"}}, "params": map[string]any{"basisPoints": 1000},
			"budget": 100000, "currency": "CNY", "enabled": true})
		e.promotion("welcome", map[string]any{"name": "3 off", "kind": "amount_off", "group": "coupon",
			"params": map[string]any{"amount": 300}, "couponRequired": true, "budget": 10000, "currency": "CNY", "enabled": true})
		expect(t, e.do("PUT", "/v1/admin/promotion-groups", adminToken, `{"groups":["category","coupon"]}`), 200, "")
		expect(t, e.do("POST", "/v1/admin/promotions/welcome/coupons", adminToken,
			`{"owner":"alice","codes":["WELCOME-ALICE","WELCOME-2"]}`), 201, "")
		expect(t, e.do("POST", "/v1/admin/promotions/welcome/coupons", adminToken, `{"codes":["SPRING"]}`), 201, "")

		addr := map[string]any{"region": "CN-31", "city": "Shanghai", "line1": "1 Bund"}
		o := e.place(alice, "r-1", map[string]any{"items": []map[string]any{{"sku": "kettle", "quantity": 2}, {"sku": "novel", "quantity": 1}},
			"coupons": []string{"WELCOME-ALICE"}, "shippingAddress": addr})
		// 10% of the kettles (500), then 300 off what is left; 1.5 kg ships
		// for 800 + 200; the discount is shared over the lines by amount.
		if a := o.Amounts; a.Subtotal != 6500 || a.Discount != 800 || a.Freight != 1000 || a.Total != 6700 ||
			!slices.Equal(lineDiscounts(o), []int64{615, 185}) {
			t.Fatalf("placed %+v", o)
		}
		if b := e.budget("kitchen10"); b.Total != 100000 || b.Remaining != 99500 {
			t.Fatalf("kitchen10 budget %+v", b)
		}
		if b := e.budget("welcome"); b.Remaining != 9700 {
			t.Fatalf("welcome budget %+v", b)
		}
		if c := e.coupon(alice, "WELCOME-ALICE"); c.State != "used" || c.OrderID != o.ID || c.Owner != "alice" {
			t.Fatalf("coupon %+v", c)
		}
		// The coupon is spent, and never bob's: to bob it reads as a code
		// that does not exist.
		for _, tc := range []struct {
			token, reason string
		}{{alice, "used"}, {bob, "not_found"}} {
			r := e.do("POST", "/v1/orders", tc.token, map[string]any{"items": []map[string]any{{"sku": "novel", "quantity": 1}},
				"coupons": []string{"WELCOME-ALICE"}, "shippingAddress": addr}, "Idempotency-Key", "again-"+tc.reason)
			expect(t, r, 409, "coupon_unavailable")
			if p := r.json(t); p["coupon"] != "WELCOME-ALICE" || p["reason"] != tc.reason {
				t.Fatalf("refusal %s", r)
			}
		}
		expect(t, e.do("GET", "/v1/coupons/WELCOME-ALICE", bob, nil), 404, "coupon_not_found")

		// Pay, ship, receive.
		r := e.pay(alice, o.ID, "pay-r-1", cardOK)
		expect(t, r, 200, "")
		if res := decodeJSON[order.PayResult](t, r); res.Order.Status != "pending_outbound" || res.Payment.Amount != 6700 {
			t.Fatalf("paid %s", r)
		}
		if v := e.fire(ops, o.ID, "ship", nil); v.Status != "pending_inbound" {
			t.Fatalf("shipped %+v", v)
		}
		if v := e.fire(alice, o.ID, "receive", nil); v.Status != "completed" {
			t.Fatalf("received %+v", v)
		}

		// One kettle asked back: a request, nothing refunded or restocked yet.
		r = e.do("POST", "/v1/orders/"+o.ID+"/returns", alice, `{"items":[{"sku":"kettle","quantity":1}]}`, "Idempotency-Key", "ret-1")
		expect(t, r, 201, "")
		ret := decodeJSON[order.ReturnView](t, r)
		if ret.State != "requested" || ret.Refund != 0 || ret.ReturnID != "ret-1" || ret.Currency != "CNY" || len(ret.Lines) != 1 ||
			ret.Lines[0].SKU != "kettle" || ret.Lines[0].Quantity != 1 || ret.Lines[0].LineNo != 1 || ret.Lines[0].Actor != "alice" ||
			ret.RequestedBy != "alice" || len(ret.History) != 1 {
			t.Fatalf("return %s", r)
		}
		r = e.do("POST", "/v1/orders/"+o.ID+"/returns", alice, `{"items":[{"sku":"kettle","quantity":1}]}`, "Idempotency-Key", "ret-1")
		expect(t, r, 200, "")
		if r.header.Get("Idempotent-Replayed") != "true" || decodeJSON[order.ReturnView](t, r).State != "requested" {
			t.Fatalf("replayed return %s %v", r, r.header)
		}
		expect(t, e.do("POST", "/v1/orders/"+o.ID+"/returns", alice, `{"items":[{"sku":"novel","quantity":1}]}`,
			"Idempotency-Key", "ret-1"), 422, "idempotency_key_reused")
		// Operators review returns; they do not open them.
		expect(t, e.do("POST", "/v1/orders/"+o.ID+"/returns", ops, `{"items":[{"sku":"kettle","quantity":1}]}`, "Idempotency-Key", "ret-2"),
			403, "forbidden")
		// The open request counts: one kettle is left.
		r = e.do("POST", "/v1/orders/"+o.ID+"/returns", alice, `{"items":[{"sku":"kettle","quantity":2}]}`, "Idempotency-Key", "ret-2")
		expect(t, r, 422, "return_invalid")
		if p := r.json(t); p["sku"] != "kettle" || p["left"] != float64(1) {
			t.Fatalf("refusal %s", r)
		}
		step := func(token, name, body string) reply {
			return e.do("POST", "/v1/orders/"+o.ID+"/returns/ret-1/"+name, token, body)
		}
		expect(t, step(alice, "approve", ""), 403, "forbidden")
		expect(t, step(ops, "receive", ""), 409, "return_state")
		r = step(ops, "approve", `{"reason":"photos look right"}`)
		expect(t, r, 200, "")
		if v := decodeJSON[order.ReturnView](t, r); v.State != "approved" || v.Refund != 0 || r.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("approved %s", r)
		}
		e.relayRefunds()
		if got := paymentSummary(e.payments(alice, o.ID)); !slices.Equal(got, []string{"charge:succeeded:6700"}) {
			t.Fatalf("approved, not received: %v", got)
		}
		if s := e.stock("kettle"); s.Sellable != 8 || s.Shipped != 2 {
			t.Fatalf("kettle stock before the receipt %+v", s)
		}
		// The goods are back: half of (5000 − 615), rounded down.
		r = step(ops, "receive", "")
		expect(t, r, 200, "")
		if v := decodeJSON[order.ReturnView](t, r); v.State != "received" || v.Refund != 2192 || len(v.History) != 3 {
			t.Fatalf("received %s", r)
		}
		r = step(ops, "receive", "")
		expect(t, r, 200, "")
		if r.header.Get("Idempotent-Replayed") != "true" || decodeJSON[order.ReturnView](t, r).Refund != 2192 {
			t.Fatalf("received again %s", r)
		}
		expect(t, step(alice, "cancel", ""), 409, "return_state")
		e.relayRefunds()
		pays := e.payments(alice, o.ID)
		if got := paymentSummary(pays); !slices.Equal(got, []string{"charge:succeeded:6700", "refund:succeeded:2192"}) {
			t.Fatalf("after the relay: %v", got)
		}
		r = e.do("GET", "/v1/orders/"+o.ID+"/returns", alice, nil)
		expect(t, r, 200, "")
		if rets := decodeJSON[api.ReturnList](t, r).Returns; len(rets) != 1 || rets[0].ReturnID != "ret-1" || rets[0].Refund != 2192 ||
			rets[0].State != "received" || len(rets[0].History) != 3 || rets[0].History[1].Actor != "ops" {
			t.Fatalf("returns %s", r)
		}
		if s := e.stock("kettle"); s.Sellable != 9 || s.Reserved != 0 || s.Frozen != 0 || s.Shipped != 1 {
			t.Fatalf("kettle stock %+v", s)
		}
		// The operator's steps are in the audit log, with the return before and after.
		if a := e.auditTrail("return", o.ID+"/ret-1"); len(a) != 2 || a[0].Verb != "receive" || a[0].Actor != "ops" ||
			a[0].Action != "order.return.receive" || !strings.Contains(string(a[0].Before), `"state":"approved"`) ||
			!strings.Contains(string(a[0].After), `"state":"received"`) || a[1].Verb != "approve" {
			t.Fatalf("audit %+v", a)
		}

		// Eight buyers race for one coupon anyone may use: one wins.
		tokens := make([]string, 8)
		for i := range tokens {
			tokens[i] = e.principal(fmt.Sprintf("racer-%d", i), "buyer")
		}
		replies := make([]reply, len(tokens))
		var wg sync.WaitGroup
		for i, tok := range tokens {
			wg.Go(func() {
				replies[i] = e.do("POST", "/v1/orders", tok, map[string]any{"items": []map[string]any{{"sku": "novel", "quantity": 1}},
					"coupons": []string{"SPRING"}, "shippingAddress": addr}, "Idempotency-Key", "race")
			})
		}
		wg.Wait()
		won, lost := 0, 0
		var winner order.View
		for _, r := range replies {
			switch {
			case r.status == 201:
				won++
				winner = decodeView(t, r)
			case r.status == 409 && r.code() == "coupon_unavailable":
				lost++
			default:
				t.Fatalf("racing for a coupon: %s", r)
			}
		}
		if won != 1 || lost != 7 || winner.Amounts.Discount != 300 {
			t.Fatalf("%d won, %d lost; the winner %+v", won, lost, winner)
		}
		if c := e.coupon(ops, "SPRING"); c.State != "used" || c.OrderID != winner.ID {
			t.Fatalf("coupon %+v", c)
		}
		// A buyer sees a coupon anyone may use, but not who used it.
		if c := e.coupon(alice, "SPRING"); c.State != "used" || c.OrderID != "" || c.UsedAt != nil {
			t.Fatalf("alice reads %+v", c)
		}
		if b := e.budget("welcome"); b.Remaining != 9400 {
			t.Fatalf("welcome budget after the race %+v", b)
		}

		// A declined card leaves the order pending payment (another card may
		// pay it); cancelling it gives back stock, coupon and budget.
		d := e.place(alice, "r-2", map[string]any{"items": []map[string]any{{"sku": "kettle", "quantity": 1}},
			"coupons": []string{"WELCOME-2"}, "shippingAddress": addr})
		if s := e.stock("kettle"); s.Sellable != 8 || s.Reserved != 1 {
			t.Fatalf("kettle stock %+v", s)
		}
		if b := e.budget("welcome"); b.Remaining != 9100 {
			t.Fatalf("welcome budget %+v", b)
		}
		r = e.pay(alice, d.ID, "pay-r-2", cardDeclined)
		expect(t, r, 402, "payment_declined")
		if p := r.json(t); p["declineCode"] != "card_declined" || p["orderStatus"] != "pending_payment" || p["paymentId"] == "" {
			t.Fatalf("decline %s", r)
		}
		replayed := e.pay(alice, d.ID, "pay-r-2", cardDeclined)
		expect(t, replayed, 402, "payment_declined")
		if replayed.json(t)["paymentId"] != r.json(t)["paymentId"] {
			t.Fatalf("the same key after a decline: %s", replayed)
		}
		r = e.do("GET", "/v1/orders/"+d.ID, alice, nil)
		expect(t, r, 200, "")
		if v := decodeView(t, r); v.Status != "pending_payment" {
			t.Fatalf("declined order %+v", v)
		}
		if v := e.fire(alice, d.ID, "cancel", nil); v.Status != "cancelled" {
			t.Fatalf("cancelled %+v", v)
		}
		if s := e.stock("kettle"); s.Sellable != 9 || s.Reserved != 0 {
			t.Fatalf("kettle stock after the decline %+v", s)
		}
		if c := e.coupon(alice, "WELCOME-2"); c.State != "available" || c.OrderID != "" {
			t.Fatalf("coupon after the decline %+v", c)
		}
		if b := e.budget("welcome"); b.Remaining != 9400 {
			t.Fatalf("welcome budget after the decline %+v", b)
		}
		if got := paymentSummary(e.payments(alice, d.ID)); !slices.Equal(got, []string{fmt.Sprintf("charge:failed:%d", d.Amounts.Total)}) {
			t.Fatalf("declined payments %v", got)
		}
		// The coupon is usable again; not enough funds declines too.
		f := e.place(alice, "r-3", map[string]any{"items": []map[string]any{{"sku": "novel", "quantity": 1}},
			"coupons": []string{"WELCOME-2"}, "shippingAddress": addr})
		r = e.pay(alice, f.ID, "pay-r-3", cardNoFunds)
		expect(t, r, 402, "payment_declined")
		if p := r.json(t); p["declineCode"] != "insufficient_funds" {
			t.Fatalf("decline %s", r)
		}
		if v := e.fire(alice, f.ID, "cancel", nil); v.Status != "cancelled" {
			t.Fatalf("cancelled %+v", v)
		}

		// A paid order cancelled before it ships is refunded in full.
		c := e.place(alice, "r-4", map[string]any{"items": []map[string]any{{"sku": "novel", "quantity": 2}}, "shippingAddress": addr})
		expect(t, e.pay(alice, c.ID, "pay-r-4", cardOK), 200, "")
		if s := e.stock("novel"); s.Frozen != 2 {
			t.Fatalf("novel stock %+v", s)
		}
		if v := e.fire(alice, c.ID, "cancel", nil); v.Status != "cancelled" {
			t.Fatalf("cancelled %+v", v)
		}
		e.relayRefunds()
		if got, want := paymentSummary(e.payments(alice, c.ID)), []string{fmt.Sprintf("charge:succeeded:%d", c.Amounts.Total),
			fmt.Sprintf("refund:succeeded:%d", c.Amounts.Total)}; !slices.Equal(got, want) {
			t.Fatalf("payments of the cancelled order %v; want %v", got, want)
		}
		// 20, less the first order's (shipped) and the race winner's (reserved).
		if s := e.stock("novel"); s.Frozen != 0 || s.Reserved != 1 || s.Shipped != 1 || s.Sellable != 18 {
			t.Fatalf("novel stock after the cancellation %+v", s)
		}
		r = e.do("GET", "/v1/admin/stock/audit", adminToken, nil)
		expect(t, r, 200, "")
		if a := decodeJSON[api.AuditView](t, r); !a.Clean || len(a.Discrepancies) != 0 {
			t.Fatalf("audit %s", r)
		}
	})
}

// Virtual goods: no address, no freight; paying completes the order and
// ships its stock.
func TestVirtualJourney(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.sku("topup-50", 4980, "topup", true, 100)
		alice := e.principal("alice", "buyer")
		o := e.place(alice, "v-1", `{"items":[{"sku":"topup-50","quantity":2}]}`)
		if o.BizCode != "virtual.topup" || o.ShippingAddress != nil || o.Amounts.Freight != 0 || o.Amounts.Total != 9960 ||
			o.PaymentMethod != "card" {
			t.Fatalf("placed %+v", o)
		}
		r := e.pay(alice, o.ID, "pay-v-1", cardOK)
		expect(t, r, 200, "")
		if res := decodeJSON[order.PayResult](t, r); res.Order.Status != "completed" || res.Payment.Amount != 9960 ||
			len(res.Order.AvailableEvents) != 0 {
			t.Fatalf("paid %s", r)
		}
		if s := e.stock("topup-50"); s.Sellable != 98 || s.Reserved != 0 || s.Frozen != 0 || s.Shipped != 2 {
			t.Fatalf("stock %+v", s)
		}
		if got := paymentSummary(e.payments(alice, o.ID)); !slices.Equal(got, []string{"charge:succeeded:9960"}) {
			t.Fatalf("payments %v", got)
		}
	})
}

// B2B distribution: an agent orders against its credit line (reserved at
// placement), pays through /payments (captured), the order is reviewed,
// shipped and received; a return gives credit back at once; an order over
// the credit is refused; cancelling before payment returns the credit.
func TestB2BJourney(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.skuW("case-x", 2000, "wholesale", 1000, 100)
		r := e.do("POST", "/v1/admin/principals", adminToken, `{"id":"agent-1","roles":["agent"],"attrs":{"agentLevel":"1"}}`)
		expect(t, r, 201, "")
		agent := r.json(t)["token"].(string)
		ops := e.principal("ops", "operator")
		credit := func() api.CreditView {
			t.Helper()
			r := e.do("GET", "/v1/credit", agent, nil)
			expect(t, r, 200, "")
			return decodeJSON[api.CreditView](t, r)
		}
		expect(t, e.do("GET", "/v1/credit", agent, nil), 404, "credit_account_not_found")
		body := func(qty int) map[string]any {
			return map[string]any{"bizCode": "b2b", "items": []map[string]any{{"sku": "case-x", "quantity": qty}},
				"shippingAddress": map[string]any{"region": "CN-31"}}
		}
		r = e.do("POST", "/v1/orders", agent, body(1), "Idempotency-Key", "no-credit")
		expect(t, r, 409, "insufficient_credit")

		r = e.do("PUT", "/v1/admin/credit/agent-1", adminToken, `{"currency":"CNY","limit":50000}`)
		expect(t, r, 200, "")
		if a := decodeJSON[api.CreditView](t, r).Account; a.CreditLimit != 50000 || a.Available != 50000 || a.Currency != "CNY" {
			t.Fatalf("credit line %s", r)
		}

		// 10 cases at the level-1 price (90%): 18000 on credit.
		o := e.place(agent, "b-1", body(10))
		if o.BizCode != "b2b" || o.PaymentMethod != "agent_credit" || o.Amounts.Subtotal != 18000 || o.Items[0].UnitPrice != 1800 {
			t.Fatalf("placed %+v", o)
		}
		total := o.Amounts.Total
		if a := credit().Account; a.Available != 50000-total || a.Reserved != total || a.Used != 0 {
			t.Fatalf("after placing: %+v", a)
		}
		expect(t, e.do("POST", "/v1/orders/"+o.ID+"/events", agent, `{"event":"pay"}`), 409, "payment_required")
		expect(t, e.pay(agent, o.ID, "pay-b-1", cardOK), 422, "payment_invalid")
		r = e.pay(agent, o.ID, "pay-b-1", "")
		expect(t, r, 200, "")
		res := decodeJSON[order.PayResult](t, r)
		if res.Order.Status != "pending_review" || res.Payment.Method != "agent_credit" || res.Payment.Amount != total ||
			res.Payment.State != "succeeded" {
			t.Fatalf("paid %s", r)
		}
		if a := credit().Account; a.Available != 50000-total || a.Reserved != 0 || a.Used != total {
			t.Fatalf("after paying: %+v", a)
		}
		// Review needs a reviewer who is not the buyer.
		expect(t, e.do("POST", "/v1/orders/"+o.ID+"/events", ops, `{"event":"approve"}`), 409, "transition_vetoed")
		e.fire(ops, o.ID, "approve", map[string]string{"reviewer": "ops"})
		e.fire(ops, o.ID, "ship", nil)
		if v := e.fire(agent, o.ID, "receive", nil); v.Status != "completed" {
			t.Fatalf("received %+v", v)
		}
		// Two cases back: once received, their share of the line comes back to the credit at once.
		r = e.do("POST", "/v1/orders/"+o.ID+"/returns", agent, `{"items":[{"sku":"case-x","quantity":2}]}`, "Idempotency-Key", "b-ret-1")
		expect(t, r, 201, "")
		if ret := decodeJSON[order.ReturnView](t, r); ret.Refund != 0 || ret.State != "requested" {
			t.Fatalf("return %s", r)
		}
		expect(t, e.do("POST", "/v1/orders/"+o.ID+"/returns/b-ret-1/approve", ops, nil), 200, "")
		if a := credit().Account; a.Available != 50000-total || a.Used != total {
			t.Fatalf("credit back before the goods: %+v", a)
		}
		r = e.do("POST", "/v1/orders/"+o.ID+"/returns/b-ret-1/receive", ops, nil)
		expect(t, r, 200, "")
		if ret := decodeJSON[order.ReturnView](t, r); ret.Refund != 3600 {
			t.Fatalf("received %s", r)
		}
		if a := credit().Account; a.Available != 50000-total+3600 || a.Used != total-3600 || a.Reserved != 0 {
			t.Fatalf("after the return: %+v", a)
		}
		if got := paymentSummary(e.payments(agent, o.ID)); !slices.Equal(got, []string{fmt.Sprintf("charge:succeeded:%d", total),
			"refund:succeeded:3600"}) {
			t.Fatalf("payments %v", got)
		}

		// Over the credit.
		avail := credit().Account.Available
		r = e.do("POST", "/v1/orders", agent, body(20), "Idempotency-Key", "b-2")
		expect(t, r, 409, "insufficient_credit")
		if p := r.json(t); p["requested"] != float64(36000) || p["available"] != float64(avail) {
			t.Fatalf("refusal %s", r)
		}
		// Cancelled before payment: the credit comes back.
		c := e.place(agent, "b-3", body(5))
		if a := credit().Account; a.Available != avail-c.Amounts.Total || a.Reserved != c.Amounts.Total {
			t.Fatalf("after placing: %+v", a)
		}
		expect(t, e.do("PUT", "/v1/admin/credit/agent-1", adminToken, `{"currency":"CNY","limit":1000}`), 409, "credit_limit_too_low")
		e.fire(agent, c.ID, "cancel", nil)
		cv := credit()
		if a := cv.Account; a.Available != avail || a.Reserved != 0 || a.CreditLimit != 50000 ||
			a.Available+a.Reserved+a.Used != a.CreditLimit {
			t.Fatalf("after cancelling: %+v", a)
		}
		var kinds []string
		for _, m := range cv.RecentMoves {
			kinds = append(kinds, m.Kind)
		}
		if want := []string{"release", "reserve", "refund", "capture", "reserve", "limit"}; !slices.Equal(kinds, want) {
			t.Fatalf("moves, newest first: %v; want %v", kinds, want)
		}
		r = e.do("GET", "/v1/admin/credit/agent-1", adminToken, nil)
		expect(t, r, 200, "")
		if v := decodeJSON[api.CreditView](t, r); v.Account != cv.Account || len(v.RecentMoves) != len(cv.RecentMoves) {
			t.Fatalf("the admin reads %s", r)
		}
	})
}

// Channel stock through the API: an order from a channel takes the
// channel's set-aside first, then the common pool as its settings allow;
// an exclusive SKU sells only to its channel; routing follows locations.
func TestChannelStockJourney(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.skuW("phone", 1000, "phones", 200, 10)
		e.skuW("limited", 1000, "phones", 200, 4)
		alice := e.principal("alice", "buyer")
		key := 0
		order := func(channel string, sku string, qty int) reply {
			key++
			return e.do("POST", "/v1/orders", alice, map[string]any{"channel": channel, "items": []map[string]any{{"sku": sku, "quantity": qty}},
				"shippingAddress": map[string]any{"region": "CN-31"}}, "Idempotency-Key", fmt.Sprintf("ch-%d", key))
		}
		slots := func(sku string) map[string][4]int64 {
			t.Helper()
			s := e.stock(sku)
			out := map[string][4]int64{}
			for _, l := range s.Locations {
				for _, sl := range l.Slots {
					out[sl.Slot] = [4]int64{sl.Sellable, sl.Reserved, sl.Frozen, sl.Shipped}
				}
			}
			return out
		}

		r := e.do("PUT", "/v1/stock/phone/channels/tmall", adminToken, `{"mode":"mutex","quantity":3}`)
		expect(t, r, 200, "")
		if s := decodeJSON[api.StockView](t, r); s.Sellable != 10 || len(s.Locations) != 1 ||
			fmt.Sprint(s.Locations[0].Channels) != "[{tmall mutex 3 0}]" {
			t.Fatalf("after the mutex setting %s", r)
		}
		if got := slots("phone"); got[""] != [4]int64{7, 0, 0, 0} || got["ch:tmall"] != [4]int64{3, 0, 0, 0} {
			t.Fatalf("slots %v", got)
		}
		expect(t, order("tmall", "phone", 2), 201, "")
		if got := slots("phone"); got[""] != [4]int64{7, 0, 0, 0} || got["ch:tmall"] != [4]int64{1, 2, 0, 0} {
			t.Fatalf("tmall took from its own slot first: %v", got)
		}
		// A set-aside without a shared cap keeps the channel out of the pool.
		expect(t, order("tmall", "phone", 3), 409, "out_of_stock")
		expect(t, e.do("PUT", "/v1/stock/phone/channels/tmall", adminToken, `{"mode":"shared","quantity":5}`), 200, "")
		expect(t, order("tmall", "phone", 3), 201, "")
		if got := slots("phone"); got[""] != [4]int64{5, 2, 0, 0} || got["ch:tmall"] != [4]int64{0, 3, 0, 0} {
			t.Fatalf("own slot, then the pool under the cap: %v", got)
		}
		expect(t, order("", "phone", 6), 409, "out_of_stock")
		expect(t, order("", "phone", 5), 201, "")

		// Exclusive: nobody else sells it; removing the setting gives it back.
		expect(t, e.do("PUT", "/v1/stock/limited/channels/app", adminToken, `{"mode":"exclusive","quantity":1}`), 400, "invalid_request")
		expect(t, e.do("PUT", "/v1/stock/limited/channels/app", adminToken, `{"mode":"exclusive"}`), 200, "")
		expect(t, e.do("PUT", "/v1/stock/limited/channels/web", adminToken, `{"mode":"shared","quantity":1}`), 409, "stock_conflict")
		expect(t, e.do("PUT", "/v1/stock/limited/buckets", adminToken, `{"buckets":2}`), 409, "stock_conflict")
		expect(t, order("", "limited", 1), 409, "out_of_stock")
		expect(t, order("web", "limited", 1), 409, "out_of_stock")
		expect(t, order("app", "limited", 2), 201, "")
		if got := slots("limited"); got["ch:app"] != [4]int64{2, 2, 0, 0} {
			t.Fatalf("exclusive slots %v", got)
		}
		r = e.do("DELETE", "/v1/stock/limited/channels/app?mode=exclusive", adminToken, nil)
		expect(t, r, 200, "")
		if s := decodeJSON[api.StockView](t, r); s.Sellable != 2 || s.Reserved != 2 || len(s.Locations[0].Channels) != 0 {
			t.Fatalf("after removing %s", r)
		}
		expect(t, order("", "limited", 2), 201, "")

		// Hot-SKU buckets, then merged back.
		e.skuW("hot", 100, "phones", 200, 100)
		r = e.do("PUT", "/v1/stock/hot/buckets", adminToken, `{"buckets":4}`)
		expect(t, r, 200, "")
		if s := decodeJSON[api.StockView](t, r); s.Sellable != 100 || s.Locations[0].Buckets != 4 {
			t.Fatalf("split %s", r)
		}
		if got := slots("hot"); got["b:0"][0]+got["b:1"][0]+got["b:2"][0]+got["b:3"][0] != 100 || got["b:2"][0] != 25 {
			t.Fatalf("buckets %v", got)
		}
		expect(t, order("", "hot", 3), 201, "")
		expect(t, e.do("PUT", "/v1/stock/hot/buckets", adminToken, `{"buckets":1}`), 200, "")
		if s := e.stock("hot"); s.Sellable != 97 || s.Reserved != 3 || s.Locations[0].Buckets != 0 || slots("hot")[""][0] != 97 {
			t.Fatalf("merged %+v", s)
		}

		// Routing: the preferred location that ships to the region.
		r = e.do("PUT", "/v1/locations/wh-sh", adminToken, `{"regions":["CN-31"],"priority":10}`)
		expect(t, r, 200, "")
		if l := decodeJSON[api.LocationView](t, r); l.Name != "wh-sh" || !slices.Equal(l.Regions, []string{"CN-31"}) || l.Priority != 10 {
			t.Fatalf("location %s", r)
		}
		expect(t, e.do("PUT", "/v1/stock/phone", adminToken, `{"location":"wh-sh","sellable":5}`), 200, "")
		r = e.do("GET", "/v1/locations", adminToken, nil)
		expect(t, r, 200, "")
		if ls := decodeJSON[api.LocationList](t, r).Locations; len(ls) != 2 || ls[0].Name != "wh-sh" || ls[1].Name != "default" ||
			len(ls[1].Regions) != 0 {
			t.Fatalf("locations %s", r)
		}
		r = order("", "phone", 1)
		expect(t, r, 201, "")
		if v := decodeView(t, r); v.Location != "wh-sh" {
			t.Fatalf("CN-31 ships from %s", v.Location)
		}
		key++
		r = e.do("POST", "/v1/orders", alice, map[string]any{"items": []map[string]any{{"sku": "phone", "quantity": 1}},
			"shippingAddress": map[string]any{"region": "CN-11"}}, "Idempotency-Key", fmt.Sprintf("ch-%d", key))
		expect(t, r, 409, "out_of_stock") // the default location's pool is sold out
		// A SKU only wh-sh carries, to a region wh-sh does not serve: no
		// restock of the default location is coming, so the region is named.
		r = e.do("PUT", "/v1/skus/sh-only", adminToken, map[string]any{"title": "Shanghai only", "price": 100, "currency": "CNY",
			"category": "phones", "weightGrams": 100})
		expect(t, r, 200, "")
		expect(t, e.do("PUT", "/v1/stock/sh-only", adminToken, `{"location":"wh-sh","sellable":5}`), 200, "")
		key++
		r = e.do("POST", "/v1/orders", alice, map[string]any{"items": []map[string]any{{"sku": "sh-only", "quantity": 1}},
			"shippingAddress": map[string]any{"region": "CN-11"}}, "Idempotency-Key", fmt.Sprintf("ch-%d", key))
		expect(t, r, 422, "region_not_served")
		if p := r.json(t); p["region"] != "CN-11" {
			t.Fatalf("refusal %s", r)
		}
		r = e.do("GET", "/v1/admin/stock/audit", adminToken, nil)
		expect(t, r, 200, "")
		if a := decodeJSON[api.AuditView](t, r); !a.Clean {
			t.Fatalf("audit %s", r)
		}
	})
}

// An identity whose freight template does not list the region refuses the
// order as region_not_served, not as a failing extension.
func TestRegionNotServed(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.skuW("kettle", 2500, "kitchen", 1500, 10)
		alice := e.principal("alice", "buyer")
		body := func(region string) map[string]any {
			return map[string]any{"bizCode": "domestic", "items": []map[string]any{{"sku": "kettle", "quantity": 1}},
				"shippingAddress": map[string]any{"region": region}}
		}
		r := e.do("POST", "/v1/orders", alice, body("CN-11"), "Idempotency-Key", "d-1")
		expect(t, r, 422, "region_not_served")
		if p := r.json(t); p["region"] != "CN-11" {
			t.Fatalf("refusal %s", r)
		}
		if o := e.place(alice, "d-1", body("CN-31")); o.Amounts.Freight != 1600 {
			t.Fatalf("placed %+v", o)
		}
	})
}
