package api_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Promotions through the admin API: every problem of an invalid promotion
// at once, optimistic versions, budgets and their top-ups once per key,
// coupons with their limits, and orders that see each change at once.
func TestPromotionAdmin(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.skuW("mug", 1000, "kitchen", 300, 100)
		alice, bob, ops := e.principal("alice", "buyer"), e.principal("bob", "buyer"), e.principal("ops", "operator")

		r := e.do("PUT", "/v1/admin/promotions/mugs", adminToken,
			`{"kind":"percent_off","group":"g","currency":"CNY","params":{"basisPoints":0,"amount":5}}`)
		expect(t, r, 422, "promotion_invalid")
		var fields []string
		for _, p := range r.json(t)["problems"].([]any) {
			fields = append(fields, p.(map[string]any)["field"].(string))
		}
		slices.Sort(fields)
		if !slices.Equal(fields, []string{"params.amount", "params.basisPoints"}) {
			t.Fatalf("problems %v in %s", fields, r)
		}
		expect(t, e.do("PUT", "/v1/admin/promotions/mugs", adminToken, `{"id":"cups","kind":"percent_off","group":"g","currency":"CNY"}`),
			400, "invalid_request")
		r = e.do("PUT", "/v1/admin/promotions/mugs", adminToken, `{"kind":"percent_off","group":"g","currency":"CNY","conditions":{"startsAt":"tomorrow"}}`)
		expect(t, r, 400, "invalid_type")
		if r.json(t)["field"] != "conditions.startsAt" {
			t.Fatalf("refusal %s", r)
		}

		mugs := map[string]any{"name": "20% off mugs", "kind": "percent_off", "group": "g", "currency": "CNY", "enabled": true,
			"conditions": map[string]any{"skus": []string{"mug"}, "startsAt": "2020-01-01T00:00:00Z"},
			"params":     map[string]any{"basisPoints": 2000}, "budget": 5000}
		r = e.do("PUT", "/v1/admin/promotions/mugs", adminToken, mugs)
		expect(t, r, 201, "")
		created := decodeJSON[api.PromotionView](t, r)
		if p := created.Promotion; p.ID != "mugs" || p.Version != 1 || p.Params.BasisPoints != 2000 || p.Conditions.StartsAt == nil ||
			!p.Conditions.StartsAt.Equal(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) || created.Budget.Total != 5000 ||
			created.Budget.Remaining != 5000 {
			t.Fatalf("created %s", r)
		}
		place := func(key string) int64 {
			t.Helper()
			return e.place(alice, key, retailBody("mug", 2)).Amounts.Discount
		}
		if d := place("o-1"); d != 400 {
			t.Fatalf("discount %d; want 20%% of 2000", d)
		}

		// Disabled: the next order sees it at once.
		mugs["enabled"], mugs["version"] = false, 1
		r = e.do("PUT", "/v1/admin/promotions/mugs", adminToken, mugs)
		expect(t, r, 200, "")
		if p := decodeJSON[api.PromotionView](t, r).Promotion; p.Version != 2 || p.Enabled {
			t.Fatalf("updated %s", r)
		}
		if d := place("o-2"); d != 0 {
			t.Fatalf("discount %d of a disabled promotion", d)
		}
		r = e.do("PUT", "/v1/admin/promotions/mugs", adminToken, mugs)
		expect(t, r, 409, "version_conflict")
		if p := r.json(t); p["expectedVersion"] != float64(1) || p["currentVersion"] != float64(2) {
			t.Fatalf("conflict %s", r)
		}
		mugs["enabled"], mugs["version"], mugs["budget"] = true, 2, 9000
		r = e.do("PUT", "/v1/admin/promotions/mugs", adminToken, mugs)
		expect(t, r, 422, "promotion_invalid")
		if !strings.Contains(string(r.raw), `"field":"budget"`) {
			t.Fatalf("refusal %s", r)
		}
		mugs["budget"] = 5000
		expect(t, e.do("PUT", "/v1/admin/promotions/mugs", adminToken, mugs), 200, "")
		if d := place("o-3"); d != 400 {
			t.Fatalf("discount %d after enabling again", d)
		}

		// Top-ups: once per key, from the header or the body.
		topUp := func(body string, headers ...string) reply {
			return e.do("POST", "/v1/admin/promotions/mugs/budget", adminToken, body, headers...)
		}
		r = topUp(`{"amount":1000}`, "Idempotency-Key", "t-1")
		expect(t, r, 200, "")
		if b := decodeJSON[promotion.Budget](t, r); b.Total != 6000 || b.Remaining != 5200 || b.PromotionID != "mugs" {
			t.Fatalf("after a top-up %s", r)
		}
		expect(t, topUp(`{"amount":1000}`, "Idempotency-Key", "t-1"), 200, "")
		expect(t, topUp(`{"amount":1000,"key":"t-1"}`), 200, "")
		expect(t, topUp(`{"amount":1000,"key":"t-2"}`, "Idempotency-Key", "t-1"), 400, "invalid_request")
		expect(t, topUp(`{"amount":1000}`), 400, "idempotency_key_missing")
		expect(t, topUp(`{"amount":1000}`, "Idempotency-Key", strings.Repeat("k", 129)), 400, "idempotency_key_invalid")
		expect(t, topUp(`{"amount":-5}`, "Idempotency-Key", "t-3"), 400, "invalid_request")
		if b := e.budget("mugs"); b.Total != 6000 || b.Remaining != 5200 {
			t.Fatalf("budget after replayed top-ups %+v", b)
		}

		// The list and the group order.
		e.promotion("cpn", map[string]any{"name": "coupon", "kind": "amount_off", "group": "c", "currency": "CNY", "enabled": true,
			"couponRequired": true, "params": map[string]any{"amount": 100}})
		expect(t, e.do("PUT", "/v1/admin/promotion-groups", adminToken, `{"groups":["c","g"]}`), 200, "")
		expect(t, e.do("PUT", "/v1/admin/promotion-groups", adminToken, `{"groups":["c","c"]}`), 422, "promotion_invalid")
		expect(t, e.do("PUT", "/v1/admin/promotion-groups", adminToken, `{}`), 400, "invalid_request")
		r = e.do("GET", "/v1/admin/promotions", adminToken, nil)
		expect(t, r, 200, "")
		list := decodeJSON[api.PromotionList](t, r)
		if len(list.Promotions) != 2 || list.Promotions[0].ID != "cpn" || list.Promotions[1].ID != "mugs" || list.Promotions[1].Version != 4 ||
			!slices.Equal(list.Groups, []string{"c", "g"}) {
			t.Fatalf("list %s", r)
		}

		// Coupons.
		issue := func(body any) reply { return e.do("POST", "/v1/admin/promotions/cpn/coupons", adminToken, body) }
		many := make([]string, api.MaxCouponsPerIssue+1)
		for i := range many {
			many[i] = fmt.Sprintf("M-%d", i)
		}
		for _, tc := range []struct {
			name string
			body any
			code string
		}{
			{"too many", map[string]any{"codes": many}, "invalid_request"},
			{"none", `{"codes":[]}`, "invalid_request"},
			{"twice", `{"codes":["A","A"]}`, "invalid_request"},
			{"malformed code", `{"codes":["a b"]}`, "invalid_request"},
			{"malformed owner", `{"owner":"a b","codes":["A"]}`, "invalid_request"},
			{"expired", `{"codes":["A"],"expiresAt":"2001-01-01T00:00:00Z"}`, "invalid_request"},
			{"not a date", `{"codes":["A"],"expiresAt":"soon"}`, "invalid_type"},
			{"codes as string", `{"codes":"A"}`, "invalid_type"},
		} {
			expect(t, issue(tc.body), 400, tc.code)
		}
		expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
		r = issue(map[string]any{"owner": "alice", "codes": []string{"A-1", "A-2"}, "expiresAt": expires})
		expect(t, r, 201, "")
		if res := decodeJSON[api.IssueResult](t, r); res.ExpiresAt == nil || !res.ExpiresAt.Equal(expires) || res.Owner != "alice" ||
			!slices.Equal(res.Codes, []string{"A-1", "A-2"}) {
			t.Fatalf("issued %s", r)
		}
		expect(t, issue(map[string]any{"owner": "alice", "codes": []string{"A-1", "A-2"}, "expiresAt": expires}), 201, "")
		r = issue(`{"codes":["A-2","B-1"]}`)
		expect(t, r, 409, "coupon_exists")
		if r.json(t)["coupon"] != "A-2" {
			t.Fatalf("refusal %s", r)
		}
		expect(t, e.do("GET", "/v1/coupons/B-1", ops, nil), 404, "coupon_not_found") // all or none
		expect(t, issue(map[string]any{"codes": many[:api.MaxCouponsPerIssue]}), 201, "")
		if c := e.coupon(alice, "A-1"); c.Owner != "alice" || c.State != "available" || c.PromotionID != "cpn" || !c.ExpiresAt.Equal(expires) {
			t.Fatalf("coupon %+v", c)
		}
		expect(t, e.do("GET", "/v1/coupons/A-1", bob, nil), 404, "coupon_not_found")
		expect(t, e.do("GET", "/v1/coupons/A-1", ops, nil), 200, "")
		expect(t, e.do("GET", "/v1/coupons/M-7", bob, nil), 200, "")
		expect(t, e.do("GET", "/v1/coupons/nope", bob, nil), 404, "coupon_not_found")
		// Used by alice's order: she sees which one.
		o := e.place(alice, "o-4", map[string]any{"items": []map[string]any{{"sku": "mug", "quantity": 1}}, "coupons": []string{"M-7"},
			"shippingAddress": map[string]any{"region": "CN-31"}})
		if c := e.coupon(alice, "M-7"); c.OrderID != o.ID || c.UsedAt == nil {
			t.Fatalf("alice reads %+v", c)
		}
		if c := e.coupon(bob, "M-7"); c.OrderID != "" || c.State != "used" {
			t.Fatalf("bob reads %+v", c)
		}
		expect(t, e.do("GET", "/v1/admin/promotions/nope", adminToken, nil), 404, "promotion_not_found")
		expect(t, e.do("POST", "/v1/admin/promotions/mugs/coupons", adminToken, `{"codes":["X"]}`), 422, "promotion_invalid")
	})
}

// Bad bodies and parameters of the stock, credit, payment and return
// endpoints are 4xx problems naming the field, and change nothing.
func TestAdminAndOrderRefusals(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.skuW("mug", 1000, "kitchen", 300, 10)
		e.sku("topup-50", 4980, "topup", true, 10)
		alice, bob, ops := e.principal("alice", "buyer"), e.principal("bob", "buyer"), e.principal("ops", "operator")
		pending := e.place(alice, "p-1", retailBody("mug", 1))
		shipped := e.place(alice, "p-2", retailBody("mug", 2))
		expect(t, e.pay(alice, shipped.ID, "pay-2", cardOK), 200, "")
		e.fire(ops, shipped.ID, "ship", nil)
		key := 0
		k := func() []string { key++; return []string{"Idempotency-Key", fmt.Sprintf("k-%d", key)} }
		card := func(n string) string { return `{"card":{"number":"` + n + `"}}` }
		payments := "/v1/orders/" + pending.ID + "/payments"
		returns := "/v1/orders/" + shipped.ID + "/returns"

		for _, tc := range []struct {
			name, method, path, token, body string
			headers                         []string
			status                          int
			code, field                     string
		}{
			{"channel mode missing", "PUT", "/v1/stock/mug/channels/tmall", adminToken, `{"quantity":1}`, nil, 400, "invalid_request", "mode"},
			{"channel mode unknown", "PUT", "/v1/stock/mug/channels/tmall", adminToken, `{"mode":"private","quantity":1}`, nil, 400, "invalid_request", "mode"},
			{"shared without quantity", "PUT", "/v1/stock/mug/channels/tmall", adminToken, `{"mode":"shared"}`, nil, 400, "invalid_request", "quantity"},
			{"negative quantity", "PUT", "/v1/stock/mug/channels/tmall", adminToken, `{"mode":"mutex","quantity":-1}`, nil, 400, "invalid_request", "quantity"},
			{"quantity as string", "PUT", "/v1/stock/mug/channels/tmall", adminToken, `{"mode":"mutex","quantity":"1"}`, nil, 400, "invalid_type", "quantity"},
			{"malformed channel", "PUT", "/v1/stock/mug/channels/t%20mall", adminToken, `{"mode":"mutex","quantity":1}`, nil, 400, "invalid_request", "channel"},
			{"malformed location", "PUT", "/v1/stock/mug/channels/tmall", adminToken, `{"location":"a b","mode":"mutex","quantity":1}`, nil, 400, "invalid_request", "location"},
			{"more than the pool", "PUT", "/v1/stock/mug/channels/tmall", adminToken, `{"mode":"mutex","quantity":99}`, nil, 409, "out_of_stock", ""},
			{"channel of an unknown SKU", "PUT", "/v1/stock/nope/channels/tmall", adminToken, `{"mode":"mutex","quantity":1}`, nil, 404, "sku_not_found", ""},
			{"delete without mode", "DELETE", "/v1/stock/mug/channels/tmall", adminToken, "", nil, 400, "invalid_request", "mode"},
			{"delete at a malformed location", "DELETE", "/v1/stock/mug/channels/tmall?mode=mutex&location=a%20b", adminToken, "", nil, 400, "invalid_request", "location"},
			{"buckets missing", "PUT", "/v1/stock/mug/buckets", adminToken, `{}`, nil, 400, "invalid_request", "buckets"},
			{"too many buckets", "PUT", "/v1/stock/mug/buckets", adminToken, `{"buckets":257}`, nil, 400, "invalid_request", "buckets"},
			{"region with a comma", "PUT", "/v1/locations/wh", adminToken, `{"regions":["CN-31,CN-32"]}`, nil, 400, "invalid_request", "regions[0]"},
			{"region twice", "PUT", "/v1/locations/wh", adminToken, `{"regions":["CN-31","CN-31"]}`, nil, 400, "invalid_request", "regions[1]"},
			{"empty region", "PUT", "/v1/locations/wh", adminToken, `{"regions":[""]}`, nil, 400, "invalid_request", "regions[0]"},
			{"priority out of range", "PUT", "/v1/locations/wh", adminToken, `{"priority":1000001}`, nil, 400, "invalid_request", "priority"},
			{"malformed location name", "PUT", "/v1/locations/w%20h", adminToken, `{}`, nil, 400, "invalid_request", "name"},
			{"credit without limit", "PUT", "/v1/admin/credit/agent-1", adminToken, `{"currency":"CNY"}`, nil, 400, "invalid_request", "limit"},
			{"negative credit", "PUT", "/v1/admin/credit/agent-1", adminToken, `{"currency":"CNY","limit":-1}`, nil, 400, "invalid_request", "limit"},
			{"credit of a malformed agent", "PUT", "/v1/admin/credit/a%20b", adminToken, `{"currency":"CNY","limit":1}`, nil, 400, "invalid_request", "agent"},

			{"pay without a key", "POST", payments, alice, card(cardOK), nil, 400, "idempotency_key_missing", ""},
			{"pay with a long key", "POST", payments, alice, card(cardOK), []string{"Idempotency-Key", strings.Repeat("k", 129)}, 400, "idempotency_key_invalid", ""},
			{"card number too long", "POST", payments, alice, card(strings.Repeat("4", 33)), k(), 400, "invalid_request", "card.number"},
			{"empty card number", "POST", payments, alice, card(""), k(), 400, "invalid_request", "card.number"},
			{"card as string", "POST", payments, alice, `{"card":"4242424242424242"}`, k(), 400, "invalid_type", "card"},
			{"pay with a price", "POST", payments, alice, `{"amount":1}`, k(), 400, "unknown_field", "amount"},
			{"a card order without a card", "POST", payments, alice, `{}`, k(), 422, "payment_invalid", ""},
			{"a number that is no card", "POST", payments, alice, card("4242424242424241"), k(), 422, "payment_invalid", ""},
			{"another buyer pays", "POST", payments, bob, card(cardOK), k(), 404, "order_not_found", ""},
			{"an operator pays", "POST", payments, ops, card(cardOK), k(), 403, "forbidden", ""},
			{"pay a missing order", "POST", "/v1/orders/o00nothing/payments", alice, card(cardOK), k(), 404, "order_not_found", ""},

			{"return without a key", "POST", returns, alice, `{"items":[{"sku":"mug","quantity":1}]}`, nil, 400, "idempotency_key_missing", ""},
			{"return key too long", "POST", returns, alice, `{"items":[{"sku":"mug","quantity":1}]}`, []string{"Idempotency-Key", strings.Repeat("r", 65)}, 400, "idempotency_key_invalid", ""},
			{"return nothing", "POST", returns, alice, `{"items":[]}`, k(), 400, "invalid_items", "items"},
			{"return zero", "POST", returns, alice, `{"items":[{"sku":"mug","quantity":0}]}`, k(), 400, "invalid_quantity", "items[0].quantity"},
			{"return a huge quantity", "POST", returns, alice, `{"items":[{"sku":"mug","quantity":99999999999999999999}]}`, k(), 400, "invalid_quantity", "items[0].quantity"},
			{"return a malformed SKU", "POST", returns, alice, `{"items":[{"sku":"a b","quantity":1}]}`, k(), 400, "invalid_request", "items[0].sku"},
			{"return a SKU twice", "POST", returns, alice, `{"items":[{"sku":"mug","quantity":1},{"sku":"mug","quantity":1}]}`, k(), 422, "return_invalid", ""},
			{"return a SKU not ordered", "POST", returns, alice, `{"items":[{"sku":"topup-50","quantity":1}]}`, k(), 422, "return_invalid", ""},
			{"return more than shipped", "POST", returns, alice, `{"items":[{"sku":"mug","quantity":3}]}`, k(), 422, "return_invalid", ""},
			{"return an unshipped order", "POST", "/v1/orders/" + pending.ID + "/returns", alice, `{"items":[{"sku":"mug","quantity":1}]}`, k(), 422, "return_invalid", ""},
			{"another buyer returns", "POST", returns, bob, `{"items":[{"sku":"mug","quantity":1}]}`, k(), 404, "order_not_found", ""},
			{"another buyer's payments", "GET", "/v1/orders/" + shipped.ID + "/payments", bob, "", nil, 404, "order_not_found", ""},
			{"another buyer's returns", "GET", returns, bob, "", nil, 404, "order_not_found", ""},
			{"buyers do not pay by event", "POST", "/v1/orders/" + pending.ID + "/events", alice, `{"event":"pay"}`, nil, 409, "payment_required", ""},
			{"nor do operators", "POST", "/v1/orders/" + pending.ID + "/events", adminToken, `{"event":"pay"}`, nil, 409, "payment_required", ""},
			{"buyers have no credit line", "GET", "/v1/credit", alice, "", nil, 403, "forbidden", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := e.with(t)
				r := e.do(tc.method, tc.path, tc.token, tc.body, tc.headers...)
				expect(t, r, tc.status, tc.code)
				if tc.field != "" && r.json(t)["field"] != tc.field {
					t.Fatalf("field %v; want %s (%s)", r.json(t)["field"], tc.field, r)
				}
			})
		}

		t.Run("nothing changed", func(t *testing.T) {
			e := e.with(t)
			if s := e.stock("mug"); s.Sellable != 7 || s.Reserved != 1 || s.Shipped != 2 || len(s.Locations[0].Channels) != 0 ||
				len(s.Locations[0].Slots) != 1 {
				t.Fatalf("stock %+v", s)
			}
			if got := e.payments(alice, pending.ID); len(got) != 0 {
				t.Fatalf("payments of the pending order %+v", got)
			}
			r := e.do("GET", returns, alice, nil)
			expect(t, r, 200, "")
			if n := len(decodeJSON[api.ReturnList](t, r).Returns); n != 0 {
				t.Fatalf("%d returns", n)
			}
			r = e.do("GET", "/v1/locations", adminToken, nil)
			expect(t, r, 200, "")
			var ls api.LocationList
			if err := json.Unmarshal(r.raw, &ls); err != nil || len(ls.Locations) != 1 {
				t.Fatalf("locations %s", r)
			}
			expect(t, e.do("GET", "/v1/admin/credit/agent-1", adminToken, nil), 404, "credit_account_not_found")
			// The card order is still payable.
			r = e.pay(alice, pending.ID, "pay-1", cardOK)
			expect(t, r, 200, "")
		})
	})
}
