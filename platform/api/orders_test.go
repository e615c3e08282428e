package api_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Buyers see their own orders only, and another buyer's order is answered
// exactly like a missing one; admin endpoints need the admin role.
func TestVisibilityAndRoles(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.sku("mug", 1200, "kitchen", false, 50)
		alice, bob := e.principal("alice", "buyer"), e.principal("bob", "buyer")
		agent, ops := e.principal("agent-1", "agent"), e.principal("ops", "operator")

		r := e.do("POST", "/v1/orders", alice, retailBody("mug", 1), "Idempotency-Key", "a-1")
		expect(t, r, 201, "")
		mine := decodeView(t, r)
		r = e.do("POST", "/v1/orders", agent, retailBody("mug", 2), "Idempotency-Key", "g-1")
		expect(t, r, 201, "")
		agents := decodeView(t, r)
		if agents.BuyerID != "agent-1" {
			t.Fatalf("agent's order belongs to %s", agents.BuyerID)
		}

		missing := "o00" + mine.ID[3:len(mine.ID)-4] + "zzzz"
		for _, path := range []string{"", "/trace"} {
			foreign := e.do("GET", "/v1/orders/"+mine.ID+path, bob, nil)
			expect(t, foreign, 404, "order_not_found")
			absent := e.do("GET", "/v1/orders/"+missing+path, bob, nil)
			expect(t, absent, 404, "order_not_found")
			if pf, pa := foreign.json(t), absent.json(t); len(pf) != len(pa) || pf["title"] != pa["title"] {
				t.Fatalf("a foreign order reads differently from a missing one:\n%s\n%s", foreign, absent)
			}
			expect(t, e.do("GET", "/v1/orders/"+mine.ID+path, alice, nil), 200, "")
			expect(t, e.do("GET", "/v1/orders/"+mine.ID+path, ops, nil), 200, "")
			expect(t, e.do("GET", "/v1/orders/"+mine.ID+path, adminToken, nil), 200, "")
		}
		expect(t, e.do("POST", "/v1/orders/"+mine.ID+"/events", bob, `{"event":"cancel"}`), 404, "order_not_found")
		expect(t, e.do("POST", "/v1/orders/"+mine.ID+"/events", agent, `{"event":"pay"}`), 404, "order_not_found")
		expect(t, e.do("POST", "/v1/orders/"+missing+"/events", bob, `{"event":"cancel"}`), 404, "order_not_found")
		// Buyers may not ship, even their own order; operators may.
		r = e.do("POST", "/v1/orders/"+mine.ID+"/events", alice, `{"event":"ship"}`)
		expect(t, r, 403, "forbidden_event")
		if ev := r.json(t)["permittedEvents"]; fmt.Sprint(ev) != "[cancel receive]" {
			t.Fatalf("permittedEvents %v", ev)
		}

		ids := func(vs []order.View) []string {
			var out []string
			for _, v := range vs {
				out = append(out, v.ID)
			}
			slices.Sort(out)
			return out
		}
		if got := ids(e.orders(alice, "", 10)); !slices.Equal(got, []string{mine.ID}) {
			t.Fatalf("alice lists %v", got)
		}
		if got := e.orders(bob, "", 10); len(got) != 0 {
			t.Fatalf("bob lists %d orders", len(got))
		}
		if got := ids(e.orders(agent, "", 10)); !slices.Equal(got, []string{agents.ID}) {
			t.Fatalf("the agent lists %v", got)
		}
		if got := e.orders(ops, "", 10); len(got) != 2 {
			t.Fatalf("the operator lists %d orders", len(got))
		}
		// A buyer's filter cannot be widened by the query.
		if got := e.orders(bob, "&bizCode=retail", 10); len(got) != 0 {
			t.Fatalf("bob lists %d retail orders", len(got))
		}

		for _, tc := range []struct {
			method, path, body string
		}{
			{"PUT", "/v1/skus/x1", `{"title":"X","price":1,"currency":"CNY"}`},
			{"PUT", "/v1/stock/mug", `{"sellable":1000}`},
			{"POST", "/v1/admin/principals", `{"id":"mallory","roles":["admin"]}`},
		} {
			for _, tok := range []string{alice, agent, ops} {
				expect(t, e.do(tc.method, tc.path, tok, tc.body), 403, "forbidden")
			}
			r := e.do(tc.method, tc.path, "", tc.body)
			expect(t, r, 401, "unauthenticated")
			if r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			expect(t, e.do(tc.method, tc.path, "not-a-token", tc.body), 401, "unauthenticated")
		}
		// Operators and administrators do not place orders.
		expect(t, e.do("POST", "/v1/orders", ops, retailBody("mug", 1), "Idempotency-Key", "o-1"), 403, "forbidden")
		for _, path := range []string{"/v1/orders", "/v1/orders/" + mine.ID, "/v1/skus/mug", "/v1/stock/mug"} {
			expect(t, e.do("GET", path, "", nil), 401, "unauthenticated")
		}
		expect(t, e.do("POST", "/v1/admin/principals", adminToken, `{"id":"alice","roles":["buyer"]}`), 409, "principal_exists")
		expect(t, e.do("POST", "/v1/admin/principals", adminToken, `{"id":"carol","roles":["king"]}`), 400, "invalid_request")
		expect(t, e.do("POST", "/v1/admin/principals", adminToken, `{"id":"carol","roles":[]}`), 400, "invalid_request")
		if s := e.stock("mug"); s.Sellable != 47 {
			t.Fatalf("refused requests changed the stock: %+v", s)
		}
	})
}

// An order's life through the API: retail pays into pending_outbound and
// freezes its stock; a top-up completes on payment.
func TestLifecycleThroughTheAPI(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.sku("kettle", 4500, "kitchen", false, 10)
		e.sku("topup-50", 4980, "topup", true, 1000)
		alice, ops := e.principal("alice", "buyer"), e.principal("ops", "operator")

		r := e.do("POST", "/v1/orders", alice, retailBody("kettle", 2), "Idempotency-Key", "life-1", "X-Request-Id", "trace-life-1")
		expect(t, r, 201, "")
		if r.header.Get("X-Request-Id") != "trace-life-1" {
			t.Fatalf("X-Request-Id not echoed: %v", r.header)
		}
		o := decodeView(t, r)
		if o.Status != "pending_payment" || o.BizCode != "retail" || o.BuyerID != "alice" ||
			!slices.Equal(o.AvailableEvents, []string{"cancel"}) ||
			o.Amounts.Subtotal != 9000 || o.Amounts.Total != o.Amounts.Subtotal-o.Amounts.Discount+o.Amounts.Freight ||
			o.Version != 1 || o.PaymentDeadline == nil || r.header.Get("Location") != "/v1/orders/"+o.ID {
			t.Fatalf("placed %+v", o)
		}
		if s := e.stock("kettle"); s.Sellable != 8 || s.Reserved != 2 || len(s.Locations) != 1 || s.Locations[0].Location != "default" {
			t.Fatalf("after placing: %+v", s)
		}

		// Card orders are paid through /payments, never by firing pay.
		r = e.do("POST", "/v1/orders/"+o.ID+"/events", alice, `{"event":"pay","data":{"paymentId":"p-1"}}`)
		expect(t, r, 409, "payment_required")
		if p := r.json(t); p["payments"] != "/v1/orders/"+o.ID+"/payments" || p["paymentMethod"] != "card" {
			t.Fatalf("refusal %s", r)
		}
		expect(t, e.do("POST", "/v1/orders/"+o.ID+"/events", ops, `{"event":"pay"}`), 409, "payment_required")
		r = e.pay(alice, o.ID, "pay-1", cardOK)
		expect(t, r, 200, "")
		res := decodeJSON[order.PayResult](t, r)
		paid := res.Order
		if paid.Status != "pending_outbound" || paid.Version != 2 || paid.PaymentDeadline != nil {
			t.Fatalf("paid %+v", paid)
		}
		if pm := res.Payment; pm.State != "succeeded" || pm.Kind != "charge" || pm.Method != "card" || pm.Amount != o.Amounts.Total ||
			pm.CardLast4 != "4242" || pm.OrderID != o.ID || strings.Contains(string(r.raw), cardOK) {
			t.Fatalf("payment %s", r)
		}
		if s := e.stock("kettle"); s.Sellable != 8 || s.Reserved != 0 || s.Frozen != 2 {
			t.Fatalf("after paying: %+v", s)
		}
		// The same key answers the same payment; another key finds nothing to pay.
		r = e.pay(alice, o.ID, "pay-1", cardOK)
		expect(t, r, 200, "")
		if again := decodeJSON[order.PayResult](t, r); again.Payment.ID != res.Payment.ID || again.Order.Version != 2 {
			t.Fatalf("replayed payment %s", r)
		}
		r = e.pay(alice, o.ID, "pay-2", cardOK)
		expect(t, r, 409, "event_not_allowed")
		if p := r.json(t); fmt.Sprint(p["allowedEvents"]) != "[cancel outbound_fail ship]" || p["orderStatus"] != "pending_outbound" {
			t.Fatalf("refusal %s", r)
		}
		r = e.do("POST", "/v1/orders/"+o.ID+"/events", ops, `{"event":"ship"}`)
		expect(t, r, 200, "")
		if s := e.stock("kettle"); s.Frozen != 0 || s.Shipped != 2 {
			t.Fatalf("after shipping: %+v", s)
		}
		r = e.do("POST", "/v1/orders/"+o.ID+"/events", alice, `{"event":"receive"}`)
		expect(t, r, 200, "")
		if v := decodeView(t, r); v.Status != "completed" || len(v.AvailableEvents) != 0 {
			t.Fatalf("received %+v", v)
		}

		r = e.do("GET", "/v1/orders/"+o.ID+"/trace", alice, nil)
		expect(t, r, 200, "")
		tr := r.json(t)
		calls, _ := tr["calls"].([]any)
		if tr["orderId"] != o.ID || len(calls) == 0 {
			t.Fatalf("trace %s", r)
		}
		points := map[string]bool{}
		for i, c := range calls {
			call := c.(map[string]any)
			if call["seq"] != float64(i+1) || call["outcome"] == "" || call["layer"] == "" {
				t.Fatalf("call %d: %v", i, call)
			}
			points[call["point"].(string)] = true
		}
		for _, p := range []string{"order.validate", "pricing.adjust", "delivery.freight", "payment.methods", "stock.route_warehouse"} {
			if !points[p] {
				t.Fatalf("trace lacks %s: %s", p, r)
			}
		}

		r = e.do("POST", "/v1/orders", alice, `{"items":[{"sku":"topup-50","quantity":2}]}`, "Idempotency-Key", "life-2")
		expect(t, r, 201, "")
		top := decodeView(t, r)
		if top.BizCode != "virtual.topup" || top.Status != "pending_payment" || top.Amounts.Freight != 0 {
			t.Fatalf("top-up %+v", top)
		}
		r = e.pay(alice, top.ID, "pay-top", cardOK)
		expect(t, r, 200, "")
		if v := decodeJSON[order.PayResult](t, r).Order; v.Status != "completed" {
			t.Fatalf("paid top-up %+v", v)
		}
		if s := e.stock("topup-50"); s.Sellable != 998 || s.Shipped != 2 || s.Reserved != 0 || s.Frozen != 0 {
			t.Fatalf("top-up stock %+v", s)
		}
		r = e.do("GET", "/v1/orders/"+top.ID, alice, nil)
		expect(t, r, 200, "")
		if v := decodeView(t, r); v.Status != "completed" || v.Version != 2 {
			t.Fatalf("read back %+v", v)
		}
		expect(t, e.do("GET", "/v1/orders?status=completed&bizCode=virtual.topup", alice, nil), 200, "")
		if got := e.orders(alice, "&status=completed&bizCode=virtual.topup", 10); len(got) != 1 || got[0].ID != top.ID {
			t.Fatalf("filtered list %v", got)
		}

		// A principal's attributes reach identity resolution.
		r = e.do("POST", "/v1/admin/principals", adminToken, `{"id":"vera","roles":["buyer"],"attrs":{"tier":"vip"}}`)
		expect(t, r, 201, "")
		vera, _ := r.json(t)["token"].(string)
		r = e.do("POST", "/v1/orders", vera, retailBody("kettle", 1), "Idempotency-Key", "vip-1")
		expect(t, r, 201, "")
		if v := decodeView(t, r); v.BizCode != "retail.vip" || v.BuyerID != "vera" {
			t.Fatalf("a vip's order: %+v", v)
		}

		// One request log line per request, with what is known.
		var line map[string]any
		for _, l := range e.logs.lines() {
			if l["traceId"] == "trace-life-1" {
				line = l
			}
		}
		if line == nil || line["msg"] != "request" || line["method"] != "POST" || line["path"] != "/v1/orders" ||
			line["status"] != float64(201) || line["principal"] != "alice" || line["bizCode"] != "retail" || line["outcome"] != "ok" {
			t.Fatalf("request log line %v", line)
		}
	})
}

// 25 orders paged 7 at a time: every order exactly once, in (createdAt, id)
// order.
func TestPagination(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.sku("mug", 1200, "kitchen", false, 100)
		alice, bob := e.principal("alice", "buyer"), e.principal("bob", "buyer")
		expect(t, e.do("POST", "/v1/orders", bob, retailBody("mug", 1), "Idempotency-Key", "bob-1"), 201, "")
		placed := map[string]bool{}
		for i := range 25 {
			r := e.do("POST", "/v1/orders", alice, retailBody("mug", 1), "Idempotency-Key", fmt.Sprintf("p-%d", i))
			expect(t, r, 201, "")
			placed[decodeView(t, r).ID] = true
		}
		first := e.do("GET", "/v1/orders?limit=7", alice, nil)
		expect(t, first, 200, "")
		if n := len(first.json(t)["orders"].([]any)); n != 7 || first.json(t)["nextCursor"] == "" {
			t.Fatalf("first page: %d orders, %v", n, first.json(t)["nextCursor"])
		}
		got := e.orders(alice, "", 7)
		if len(got) != 25 {
			t.Fatalf("%d orders paged; want 25", len(got))
		}
		for i, v := range got {
			if !placed[v.ID] {
				t.Fatalf("order %s listed twice or not alice's", v.ID)
			}
			delete(placed, v.ID)
			if i > 0 {
				prev := got[i-1]
				if v.CreatedAt.Before(prev.CreatedAt) || v.CreatedAt.Equal(prev.CreatedAt) && v.ID < prev.ID {
					t.Fatalf("order %d (%s %s) before order %d (%s %s)", i, v.CreatedAt.Format(time.RFC3339Nano), v.ID,
						i-1, prev.CreatedAt.Format(time.RFC3339Nano), prev.ID)
				}
			}
		}
		if all := e.orders(adminToken, "", 100); len(all) != 26 {
			t.Fatalf("the administrator lists %d orders; want 26", len(all))
		}
		// The default page is 20.
		r := e.do("GET", "/v1/orders", alice, nil)
		expect(t, r, 200, "")
		if n := len(r.json(t)["orders"].([]any)); n != 20 {
			t.Fatalf("default page of %d", n)
		}
	})
}

// availableEvents lists what the caller may fire now, by the policy: never
// an event the policy refuses it (alice does not ship), an event only the
// platform fires (payment_timeout, payment_fail), or pay on an order paid
// through /payments. In every answer that carries the order.
func TestAvailableEventsAreTheCallersOwn(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.sku("kettle", 4500, "kitchen", false, 10)
		alice, ops := e.principal("alice", "buyer"), e.principal("ops", "operator")
		r := e.do("POST", "/v1/orders", alice, retailBody("kettle", 1), "Idempotency-Key", "ev-1")
		expect(t, r, 201, "")
		o := decodeView(t, r)
		check := func(what string, got, want []string) {
			t.Helper()
			if !slices.Equal(got, want) {
				t.Fatalf("%s: availableEvents %q, want %q", what, got, want)
			}
		}
		check("placed", o.AvailableEvents, []string{"cancel"})
		r = e.do("POST", "/v1/orders", alice, retailBody("kettle", 1), "Idempotency-Key", "ev-1")
		expect(t, r, 201, "")
		check("replayed", decodeView(t, r).AvailableEvents, []string{"cancel"})
		r = e.do("GET", "/v1/orders/"+o.ID, ops, nil)
		expect(t, r, 200, "")
		check("ops before payment", decodeView(t, r).AvailableEvents, []string{"cancel"})

		r = e.pay(alice, o.ID, "ev-pay", cardOK)
		expect(t, r, 200, "")
		check("paid", decodeJSON[order.PayResult](t, r).Order.AvailableEvents, []string{"cancel"})
		r = e.do("GET", "/v1/orders/"+o.ID, alice, nil)
		expect(t, r, 200, "")
		check("alice after payment", decodeView(t, r).AvailableEvents, []string{"cancel"})
		r = e.do("GET", "/v1/orders", alice, nil)
		expect(t, r, 200, "")
		if page := decodeJSON[order.Page](t, r); len(page.Orders) != 1 {
			t.Fatalf("list %s", r)
		} else {
			check("alice's list", page.Orders[0].AvailableEvents, []string{"cancel"})
		}
		r = e.do("GET", "/v1/orders/"+o.ID, ops, nil)
		expect(t, r, 200, "")
		check("ops after payment", decodeView(t, r).AvailableEvents, []string{"cancel", "outbound_fail", "ship"})
		r = e.do("POST", "/v1/orders/"+o.ID+"/events", ops, `{"event":"ship"}`)
		expect(t, r, 200, "")
		check("ops after shipping", decodeView(t, r).AvailableEvents, []string{"inbound_fail", "receive"})
		r = e.do("GET", "/v1/orders/"+o.ID, alice, nil)
		expect(t, r, 200, "")
		check("alice after shipping", decodeView(t, r).AvailableEvents, []string{"receive"})
	})
}

// A cancellation's reason is kept in the order's history; a list's status
// filter is checked; a cursor pages only the list it was given for.
func TestCancelReasonAndListFilters(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.sku("kettle", 4500, "kitchen", false, 10)
		alice := e.principal("alice", "buyer")
		var ids []string
		for i := range 3 {
			r := e.do("POST", "/v1/orders", alice, retailBody("kettle", 1), "Idempotency-Key", fmt.Sprintf("rf-%d", i))
			expect(t, r, 201, "")
			ids = append(ids, decodeView(t, r).ID)
		}
		r := e.do("POST", "/v1/orders/"+ids[0]+"/events", alice, `{"event":"cancel","data":{"reason":"ordered the wrong colour"}}`)
		expect(t, r, 200, "")
		r = e.do("GET", "/v1/orders/"+ids[0]+"/history", alice, nil)
		expect(t, r, 200, "")
		h := decodeJSON[api.HistoryView](t, r)
		if n := len(h.Items); n != 2 || h.Items[1].Event != "cancel" || h.Items[1].Reason != "ordered the wrong colour" ||
			h.Items[1].Actor != "alice" || h.Items[1].To != "cancelled" {
			t.Fatalf("history %s", r)
		}

		r = e.do("GET", "/v1/orders?status=cancelled", alice, nil)
		expect(t, r, 200, "")
		if page := decodeJSON[order.Page](t, r); len(page.Orders) != 1 || page.Orders[0].ID != ids[0] {
			t.Fatalf("cancelled orders %s", r)
		}
		r = e.do("GET", "/v1/orders?status=pending_payment&limit=1", alice, nil)
		expect(t, r, 200, "")
		page := decodeJSON[order.Page](t, r)
		if len(page.Orders) != 1 || page.NextCursor == "" {
			t.Fatalf("first page %s", r)
		}
		cur := url.QueryEscape(page.NextCursor)
		expect(t, e.do("GET", "/v1/orders?status=pending_payment&limit=1&cursor="+cur, alice, nil), 200, "")
		for _, q := range []string{"", "status=cancelled&", "bizCode=retail&status=pending_payment&", "buyerId=alice&status=pending_payment&"} {
			r := e.do("GET", "/v1/orders?"+q+"limit=1&cursor="+cur, alice, nil)
			expect(t, r, 400, "invalid_cursor")
			if !strings.Contains(r.json(t)["detail"].(string), "another filter") {
				t.Fatalf("%q: %s", q, r)
			}
		}
	})
}

// The recipient and the rest of the address are kept and answered on the order.
func TestShippingAddressWithRecipient(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.sku("kettle", 4500, "kitchen", false, 10)
		alice := e.principal("alice", "buyer")
		addr := `{"region":"CN-31","line1":"1 Bund","line2":"Floor 12, Room 1203","city":"Shanghai","postal":"200002",` +
			`"country":"CN","name":"Li Lei","phone":"+86 21 5555-0100"}`
		r := e.do("POST", "/v1/orders", alice, `{"items":[{"sku":"kettle","quantity":1}],"shippingAddress":`+addr+`}`, "Idempotency-Key", "addr-1")
		expect(t, r, 201, "")
		want := extensions.Address{Region: "CN-31", Line1: "1 Bund", Line2: "Floor 12, Room 1203", City: "Shanghai", Postal: "200002",
			Country: "CN", Name: "Li Lei", Phone: "+86 21 5555-0100"}
		o := decodeView(t, r)
		if o.ShippingAddress == nil || *o.ShippingAddress != want {
			t.Fatalf("placed %s", r)
		}
		r = e.do("GET", "/v1/orders/"+o.ID, alice, nil)
		expect(t, r, 200, "")
		if got := decodeView(t, r); got.ShippingAddress == nil || *got.ShippingAddress != want {
			t.Fatalf("read %s", r)
		}
	})
}

// A buyer names an identity only when the policy lets it choose that one
// or the rules would give it anyway: a plain buyer cannot pick retail.vip,
// a VIP buyer may name it, an open identity is open to every buyer.
func TestChooseIdentity(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	e.sku("mug", 1200, "kitchen", false, 50)
	alice := e.principal("alice", "buyer")
	r := e.do("POST", "/v1/admin/principals", adminToken, api.PrincipalRequest{ID: "vip", Roles: []string{"buyer"},
		Attrs: map[string]string{"tier": "vip"}})
	expect(t, r, 201, "")
	vip, _ := r.json(t)["token"].(string)
	body := func(code string) string {
		return `{"bizCode":"` + code + `","items":[{"sku":"mug","quantity":1}],"shippingAddress":{"region":"CN-31","line1":"1 Road"}}`
	}

	r = e.do("POST", "/v1/orders", alice, body("retail.vip"), "Idempotency-Key", "c-1")
	expect(t, r, 403, "identity_not_allowed")
	unknown := e.do("POST", "/v1/orders", alice, body("no.such"), "Idempotency-Key", "c-2")
	expect(t, unknown, 403, "identity_not_allowed")
	if problemShape(t, r) != problemShape(t, unknown) {
		t.Errorf("a closed identity reads differently from an unknown one:\n%s\n%s", r, unknown)
	}
	expect(t, e.do("POST", "/v1/orders", alice, body("retail"), "Idempotency-Key", "c-3"), 201, "")
	expect(t, e.do("POST", "/v1/orders", alice, body("domestic"), "Idempotency-Key", "c-4"), 201, "")
	r = e.do("POST", "/v1/orders", vip, body("retail.vip"), "Idempotency-Key", "c-5")
	expect(t, r, 201, "")
	if r.json(t)["bizCode"] != "retail.vip" {
		t.Fatalf("the VIP's order: %s", r)
	}
}

// A buyer holds at most so many unpaid orders and so much of a SKU in
// them; paying frees the room, and other buyers are not affected.
func TestUnpaidCaps(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"), func(c *api.Config) {
		c.Limits.MaxUnpaidOrders, c.Limits.MaxUnpaidQuantity = 3, 5
	})
	e.sku("mug", 1200, "kitchen", false, 100)
	e.sku("cup", 800, "kitchen", false, 100)
	alice, bob := e.principal("alice", "buyer"), e.principal("bob", "buyer")

	first := decodeView(t, e.do("POST", "/v1/orders", alice, retailBody("mug", 4), "Idempotency-Key", "u-1"))
	r := e.do("POST", "/v1/orders", alice, retailBody("mug", 2), "Idempotency-Key", "u-2")
	expect(t, r, 409, "unpaid_limit")
	if r.json(t)["sku"] != "mug" {
		t.Errorf("the refusal: %s", r)
	}
	expect(t, e.do("POST", "/v1/orders", alice, retailBody("mug", 1), "Idempotency-Key", "u-3"), 201, "")
	expect(t, e.do("POST", "/v1/orders", alice, retailBody("cup", 1), "Idempotency-Key", "u-4"), 201, "")
	expect(t, e.do("POST", "/v1/orders", alice, retailBody("cup", 1), "Idempotency-Key", "u-5"), 409, "unpaid_limit")
	expect(t, e.do("POST", "/v1/orders", bob, retailBody("mug", 5), "Idempotency-Key", "u-6"), 201, "")

	expect(t, e.pay(alice, first.ID, "pay-u-1", "4242424242424242"), 200, "")
	expect(t, e.do("POST", "/v1/orders", alice, retailBody("mug", 4), "Idempotency-Key", "u-7"), 201, "")
}
