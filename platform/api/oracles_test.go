package api_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Answers tell a buyer nothing it may not know: a coupon of another buyer
// reads as one that does not exist (also when an order names it), stock
// shows availability and not each warehouse's counts, an order's history
// names staff by role, and its trace names no implementation or error.
func TestBuyersLearnNothingOfOthers(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	e.sku("mug", 1200, "kitchen", false, 50)
	alice, bob := e.principal("alice", "buyer"), e.principal("bob", "buyer")
	ops := newPrincipalAt(e, "ops-jane", "", []string{"*"}, "operator")

	expect(t, e.do("PUT", "/v1/admin/promotions/cpn", adminToken, owaspCouponPromotion), 201, "")
	expect(t, e.do("POST", "/v1/admin/promotions/cpn/coupons", adminToken, `{"codes":["ALICE-1"],"owner":"alice"}`), 201, "")
	same := func(a, b reply) bool {
		strip := func(r reply) string {
			p := r.json(t)
			delete(p, "traceId")
			return strings.ReplaceAll(strings.ReplaceAll(string(mustJSONLine(t, p)), "ALICE-1", "CODE"), "NOPE-1", "CODE")
		}
		return a.status == b.status && strip(a) == strip(b)
	}
	foreign, missing := e.do("GET", "/v1/coupons/ALICE-1", bob, nil), e.do("GET", "/v1/coupons/NOPE-1", bob, nil)
	expect(t, foreign, 404, "coupon_not_found")
	if !same(foreign, missing) {
		t.Errorf("a foreign coupon reads differently from a missing one:\n%s\n%s", foreign, missing)
	}
	order := func(code, key string) reply {
		return e.do("POST", "/v1/orders", bob, `{"items":[{"sku":"mug","quantity":1}],"coupons":["`+code+`"],`+
			`"shippingAddress":{"region":"CN-31","line1":"1 Road"}}`, "Idempotency-Key", key)
	}
	foreign, missing = order("ALICE-1", "c-1"), order("NOPE-1", "c-2")
	if !same(foreign, missing) {
		t.Errorf("an order naming a foreign coupon reads differently from one naming a missing one:\n%s\n%s", foreign, missing)
	}

	r := e.do("GET", "/v1/stock/mug", alice, nil)
	expect(t, r, 200, "")
	if keys := slices.Sorted(maps.Keys(r.json(t))); !slices.Equal(keys, []string{"available", "sellable", "sku"}) {
		t.Errorf("a buyer sees the stock as %s", r)
	}
	for _, tok := range []string{adminToken, ops} {
		if r := e.do("GET", "/v1/stock/mug", tok, nil); r.json(t)["locations"] == nil {
			t.Errorf("staff see the stock as %s", r)
		}
	}

	r = e.do("POST", "/v1/orders", alice, `{"items":[{"sku":"mug","quantity":1}],"shippingAddress":{"region":"CN-31","line1":"1 Road"}}`,
		"Idempotency-Key", "a-1")
	expect(t, r, 201, "")
	id := decodeView(t, r).ID
	expect(t, e.do("POST", "/v1/orders/"+id+"/events", ops, `{"event":"cancel","data":{"reason":"out of paint"}}`), 200, "")
	actors := func(tok string) []string {
		var out []string
		for _, it := range r2items(t, e.do("GET", "/v1/orders/"+id+"/history", tok, nil)) {
			out = append(out, it["actor"].(string))
		}
		return out
	}
	if got := actors(alice); !slices.Equal(got, []string{"alice", "operator"}) {
		t.Errorf("alice sees the actors %v; want [alice operator]", got)
	}
	if got := actors(adminToken); !slices.Equal(got, []string{"alice", "ops-jane"}) {
		t.Errorf("an admin sees the actors %v", got)
	}

	impls := func(tok string) (named int) {
		r := e.do("GET", "/v1/orders/"+id+"/trace", tok, nil)
		expect(t, r, 200, "")
		for _, c := range r.json(t)["calls"].([]any) {
			if c.(map[string]any)["impl"] != "" {
				named++
			}
		}
		return named
	}
	if n := impls(alice); n != 0 {
		t.Errorf("the buyer's trace names %d implementations", n)
	}
	if n := impls(ops); n == 0 {
		t.Error("the operator's trace names no implementation")
	}
}

func r2items(t *testing.T, r reply) []map[string]any {
	t.Helper()
	expect(t, r, 200, "")
	var out []map[string]any
	for _, it := range r.json(t)["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// Answers to an authenticated caller are not for caches.
func TestAuthenticatedAnswersAreNotCached(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	alice := e.principal("alice", "buyer")
	for _, r := range []reply{e.do("GET", "/v1/me", alice, nil), e.do("GET", "/v1/orders", alice, nil),
		e.do("GET", "/v1/orders/o000000000000000000000000zzzz", alice, nil), e.do("GET", "/v1/admin/principals/alice", adminToken, nil)} {
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s %s: Cache-Control %q", r.req.Method, r.req.URL.Path, got)
		}
	}
}
