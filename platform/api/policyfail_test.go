package api_test

import (
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// A policy that cannot decide denies: an evaluation error answers 404 on a
// single order (its existence must not leak) and 403 on function-level
// actions; a visible rule that cannot become SQL answers 403 on lists, never
// 500 and never an unfiltered page.
func TestAPolicyThatCannotDecideDenies(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.sku("mug", 1200, "kitchen", false, 10)
		alice := e.principal("alice", "buyer")
		r := e.do("POST", "/v1/orders", alice, retailBody("mug", 1), "Idempotency-Key", "k-1")
		expect(t, r, 201, "")
		id := decodeView(t, r).ID

		policies := map[string]string{
			// Two values for one complete rule: an evaluation error.
			"conflicting": `package tmf.authz

default visible := false

allow if input.principal.id == "alice"

allow := false if input.principal.id == "alice"

visible if input.principal.id != ""
`,
			// visible names the resource type, which orders do not have as a column.
			"untranslatable": `package tmf.authz

default allow := false

default visible := false

allow if input.action == "order.list"

allow if {
	input.action == "order.read"
	visible
}

allow if input.action == "catalog.read"

visible if input.resource.type == "order"
`,
		}
		for name, text := range policies {
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				writePolicy(t, dir, "policy.rego", text)
				pol, err := authz.New(t.Context(), authz.Options{Source: dir, Timeout: 10 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				pe := e.with(t).withPolicy(pol)
				switch name {
				case "conflicting":
					expect(t, pe.do("GET", "/v1/orders/"+id, alice, nil), 404, "order_not_found")
					expect(t, pe.do("GET", "/v1/skus/mug", alice, nil), 403, "forbidden")
					expect(t, pe.do("GET", "/v1/orders", alice, nil), 403, "forbidden")
				case "untranslatable":
					expect(t, pe.do("GET", "/v1/orders/"+id, alice, nil), 200, "")
					expect(t, pe.do("GET", "/v1/orders", alice, nil), 403, "forbidden")
				}
			})
		}
	})
}
