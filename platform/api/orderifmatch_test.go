package api_test

import (
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// GET /v1/orders/{id} gives the order's version as its ETag; an event sent
// with If-Match fires only on that version, so an operator acting on what
// it read never moves an order that changed meanwhile (412 order_stale,
// nothing fired, the reason it typed not recorded).
func TestOrderEventIfMatch(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.sku("mug", 1200, "kitchen", false, 50)
		alice, ops := e.principal("alice", "buyer"), e.principal("ops", "operator")
		r := e.do("POST", "/v1/orders", alice, retailBody("mug", 1), "Idempotency-Key", "ifm-1")
		expect(t, r, 201, "")
		o := decodeView(t, r)
		path := "/v1/orders/" + o.ID

		r = e.do("GET", path, ops, nil)
		expect(t, r, 200, "")
		read := r.header.Get("ETag")
		if read != `"1"` {
			t.Fatalf("ETag of a new order: %q", read)
		}
		cases := []struct {
			name, ifMatch string
			status        int
			code          string
		}{
			{"not a version", `"one"`, 400, "invalid_request"},
			{"zero", `"0"`, 400, "invalid_request"},
			{"another version", `"7"`, 412, "order_stale"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do("POST", path+"/events", ops, `{"event":"cancel","data":{"reason":"typed"}}`, "If-Match", tc.ifMatch)
				expect(t, r, tc.status, tc.code)
			})
		}
		// Meanwhile the buyer cancels: the operator's read is stale.
		r = e.do("POST", path+"/events", alice, `{"event":"cancel","data":{"reason":"changed my mind"}}`, "If-Match", read)
		expect(t, r, 200, "")
		if got := r.header.Get("ETag"); got != `"2"` {
			t.Fatalf("ETag after the cancel: %q", got)
		}
		r = e.do("POST", path+"/events", ops, `{"event":"cancel","data":{"reason":"out of stock"}}`, "If-Match", read)
		expect(t, r, 412, "order_stale")
		if p := r.json(t); p["version"] != float64(2) || p["orderStatus"] != "cancelled" {
			t.Fatalf("order_stale says %s", r)
		}
		// Nothing was fired with the stale read: the history holds the
		// buyer's reason only.
		r = e.do("GET", path+"/history", ops, nil)
		expect(t, r, 200, "")
		if h := string(r.raw); strings.Contains(h, "out of stock") || strings.Contains(h, "typed") || !strings.Contains(h, "changed my mind") {
			t.Fatalf("history %s", h)
		}
		// "*" and no If-Match fire on any version (here: refused by the lifecycle).
		expect(t, e.do("POST", path+"/events", ops, `{"event":"ship"}`, "If-Match", "*"), 409, "event_not_allowed")
	})
}
