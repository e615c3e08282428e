package api_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// OWASP API Security Top 10: API1 (broken object-level authorisation) and
// API5 (broken function-level authorisation), over every authenticated
// route of the server.

// Roles of the callers the OWASP tests send; roleNone is a principal whose
// only role is one the API does not know.
const (
	roleBuyer    = "buyer"
	roleAgent    = "agent"
	roleOperator = "operator"
	roleAdmin    = "admin"
	roleNone     = "auditor"
)

// everyRole is every caller of the function-level matrix.
var everyRole = []string{roleBuyer, roleAgent, roleOperator, roleAdmin, roleNone}

// anyKnownRole is who a route open to every known role lets through.
var anyKnownRole = []string{roleBuyer, roleAgent, roleOperator, roleAdmin}

// routeCase is one authenticated route and a request it accepts.
type routeCase struct {
	// route is "METHOD /template", as api.Server.Routes() names it.
	route string
	// action is the policy action the route asks about.
	action string
	// path of the request; {pay}, {cancel}, {shipped}, {coupon} and
	// {identity} stand for the fixture's resources (see owaspFixture.path).
	path string
	body string
	// headers are name, value pairs sent with the request (a body that is
	// not JSON names its content type).
	headers []string
	// idem: the route needs an Idempotency-Key.
	idem bool
	// allowed are the roles the shipped policy lets through a function-level
	// route; nil for a route decided on the resource it names.
	allowed []string
	// ok is the status of the request when an allowed caller (for object
	// routes: the resource's owner) sends it.
	ok int
	// object is the kind of resource the route names by id, whose owner
	// alone (and those the tree or a grant gives it to) may know it:
	// "order", "coupon" or "identity" (API1); "" for none.
	object string
}

func adminOnly() []string { return []string{roleAdmin} }

// configurers are the roles that configure business identities.
func configurers() []string { return []string{roleOperator, roleAdmin} }

// owaspIdentity is a valid configuration of the retail identity.
const owaspIdentity = `{"name":"Retail","products":[{"name":"standard-retail"}],"rules":[{}]}`

// owaspRoutes is every authenticated route of the API, with a request it
// accepts: bodies are valid, so that a refusal can only come from
// authorisation. TestOWASPRouteTableIsComplete holds it to Server.Routes().
// Rows run in this order in the positive phase of the function-level test,
// so a row may rely on the rows above it.
var owaspRoutes = []routeCase{
	{route: "PUT /v1/skus/:sku", action: "admin.skus.write", path: "/v1/skus/owasp-cap",
		body: `{"title":"Cap","price":900,"currency":"CNY","category":"hats"}`, allowed: adminOnly(), ok: 200},
	{route: "GET /v1/skus/:sku", action: "catalog.read", path: "/v1/skus/mug", allowed: anyKnownRole, ok: 200},
	{route: "PUT /v1/stock/:sku", action: "admin.stock.write", path: "/v1/stock/mug",
		body: `{"sellable":60,"reason":"owasp"}`, allowed: adminOnly(), ok: 200},
	{route: "GET /v1/stock/:sku", action: "catalog.read", path: "/v1/stock/mug", allowed: anyKnownRole, ok: 200},
	{route: "PUT /v1/stock/:sku/channels/:channel", action: "admin.stock.write", path: "/v1/stock/mug/channels/tmall",
		body: `{"mode":"mutex","quantity":2}`, allowed: adminOnly(), ok: 200},
	{route: "DELETE /v1/stock/:sku/channels/:channel", action: "admin.stock.write",
		path: "/v1/stock/mug/channels/tmall?mode=mutex", allowed: adminOnly(), ok: 200},
	{route: "PUT /v1/stock/:sku/buckets", action: "admin.stock.write", path: "/v1/stock/mug/buckets",
		body: `{"buckets":4}`, allowed: adminOnly(), ok: 200},
	{route: "PUT /v1/locations/:name", action: "admin.stock.write", path: "/v1/locations/wh-9",
		body: `{"regions":["CN-31"],"priority":5}`, allowed: adminOnly(), ok: 200},
	{route: "GET /v1/locations", action: "admin.stock.read", path: "/v1/locations", allowed: adminOnly(), ok: 200},
	{route: "GET /v1/admin/stock/audit", action: "admin.stock.audit", path: "/v1/admin/stock/audit", allowed: adminOnly(), ok: 200},
	{route: "GET /v1/admin/payments/audit", action: "admin.payments.audit", path: "/v1/admin/payments/audit", allowed: adminOnly(), ok: 200},
	{route: "GET /v1/admin/events/types", action: "admin.webhooks.read", path: "/v1/admin/events/types", allowed: adminOnly(), ok: 200},
	{route: "GET /v1/admin/events/status", action: "admin.events.read", path: "/v1/admin/events/status", allowed: adminOnly(), ok: 200},
	{route: "GET /v1/admin/readmodel", action: "admin.readmodel.read", path: "/v1/admin/readmodel", allowed: adminOnly(), ok: 200},
	// The fixture's server keeps no dashboard series: 503 dashboard_disabled
	// once the policy let the caller through (TestDashboard serves one).
	{route: "GET /v1/admin/dashboard", action: "admin.dashboard.read", path: "/v1/admin/dashboard", allowed: adminOnly(), ok: 503},
	{route: "GET /v1/admin/payments/refunds/failed", action: "admin.payments.read", path: "/v1/admin/payments/refunds/failed",
		allowed: adminOnly(), ok: 200},
	{route: "POST /v1/admin/payments/:id/retry", action: "admin.payments.retry", path: "/v1/admin/payments/pay_none/retry",
		allowed: adminOnly(), ok: 404},
	{route: "POST /v1/admin/reconciliation/runs", action: "admin.reconciliation.run", path: "/v1/admin/reconciliation/runs",
		body: `{"kind":"full"}`, allowed: adminOnly(), ok: 202},
	{route: "GET /v1/admin/reconciliation/runs", action: "admin.reconciliation.read", path: "/v1/admin/reconciliation/runs",
		allowed: adminOnly(), ok: 200},
	{route: "GET /v1/admin/reconciliation/runs/:id", action: "admin.reconciliation.read",
		path: "/v1/admin/reconciliation/runs/00000000000000000000000000000000", allowed: adminOnly(), ok: 404},
	{route: "GET /v1/admin/reconciliation/mismatches", action: "admin.reconciliation.read",
		path: "/v1/admin/reconciliation/mismatches?status=open", allowed: adminOnly(), ok: 200},
	{route: "GET /v1/admin/reconciliation/mismatches/:id", action: "admin.reconciliation.read",
		path: "/v1/admin/reconciliation/mismatches/99999", allowed: adminOnly(), ok: 404},
	{route: "POST /v1/admin/reconciliation/mismatches/:id/resolve", action: "admin.reconciliation.resolve",
		path: "/v1/admin/reconciliation/mismatches/99999/resolve", body: `{"note":"owasp"}`, allowed: adminOnly(), ok: 404},
	{route: "GET /v1/admin/reconciliation/flags", action: "admin.reconciliation.read", path: "/v1/admin/reconciliation/flags",
		allowed: adminOnly(), ok: 200},
	{route: "GET /v1/admin/orders/:id/flag", action: "admin.reconciliation.read", path: "/v1/admin/orders/o1/flag",
		allowed: adminOnly(), ok: 200},
	{route: "GET /v1/admin/fulfilment", action: "admin.fulfilment.read", path: "/v1/admin/fulfilment",
		allowed: adminOnly(), ok: 503},
	{route: "GET /v1/admin/fulfilment/late", action: "admin.fulfilment.read", path: "/v1/admin/fulfilment/late",
		allowed: adminOnly(), ok: 503},
	{route: "GET /v1/admin/fulfilment/:id", action: "admin.fulfilment.read", path: "/v1/admin/fulfilment/o1",
		allowed: adminOnly(), ok: 503},
	{route: "POST /v1/admin/fulfilment/late/:id/resolve", action: "admin.fulfilment.resolve", path: "/v1/admin/fulfilment/late/o1/resolve",
		allowed: adminOnly(), ok: 503},
	{route: "POST /v1/admin/principals", action: "admin.principals.write", path: "/v1/admin/principals",
		body: `{"id":"mallory","roles":["admin"]}`, allowed: adminOnly(), ok: 201},
	{route: "GET /v1/admin/principals/:id", action: "admin.principals.read", path: "/v1/admin/principals/alice",
		allowed: adminOnly(), ok: 200},
	{route: "GET /v1/admin/principals", action: "admin.principals.read", path: "/v1/admin/principals?org=east",
		allowed: adminOnly(), ok: 200},
	{route: "PUT /v1/admin/principals/:id", action: "admin.principals.write", path: "/v1/admin/principals/alice",
		body: `{"roles":["buyer","admin"]}`, allowed: adminOnly(), ok: 200},
	{route: "POST /v1/admin/principals/:id/token", action: "admin.principals.write", path: "/v1/admin/principals/nobody/token",
		allowed: adminOnly(), ok: 404},
	{route: "DELETE /v1/admin/principals/:id", action: "admin.principals.write", path: "/v1/admin/principals/nobody",
		allowed: adminOnly(), ok: 404},
	{route: "GET /v1/me", action: "me.read", path: "/v1/me", allowed: everyRole, ok: 200},
	{route: "GET /v1/admin/identities", action: "identity.list", path: "/v1/admin/identities", allowed: configurers(), ok: 200},
	{route: "GET /v1/admin/identities/:code", action: "identity.read", path: "/v1/admin/identities/{identity}", ok: 200,
		object: "identity"},
	{route: "PUT /v1/admin/identities/:code", action: "identity.write", path: "/v1/admin/identities/{identity}",
		body: owaspIdentity, headers: []string{"If-Match", "*"}, ok: 200, object: "identity"},
	{route: "POST /v1/admin/identities/:code/preview", action: "identity.write", path: "/v1/admin/identities/{identity}/preview",
		body: owaspIdentity, ok: 200, object: "identity"},
	{route: "GET /v1/admin/identities/:code/plan", action: "identity.read", path: "/v1/admin/identities/{identity}/plan", ok: 200,
		object: "identity"},
	{route: "GET /v1/admin/identities/:code/lifecycle", action: "identity.read", path: "/v1/admin/identities/{identity}/lifecycle",
		ok: 200, object: "identity"},
	{route: "GET /v1/admin/identities/:code/audit", action: "identity.read", path: "/v1/admin/identities/{identity}/audit",
		ok: 200, object: "identity"},
	{route: "GET /v1/admin/extension-points", action: "extensions.read", path: "/v1/admin/extension-points", allowed: configurers(),
		ok: 200},
	{route: "GET /v1/admin/products", action: "extensions.read", path: "/v1/admin/products", allowed: configurers(), ok: 200},
	{route: "GET /v1/admin/audit", action: "admin.audit.read", path: "/v1/admin/audit", allowed: adminOnly(), ok: 200},
	{route: "POST /v1/admin/orgs", action: "admin.orgs.write", path: "/v1/admin/orgs",
		body: `{"id":"rogue","parent":"hq","kind":"store"}`, allowed: adminOnly(), ok: 201},
	{route: "GET /v1/admin/orgs", action: "admin.orgs.read", path: "/v1/admin/orgs", allowed: adminOnly(), ok: 200},
	{route: "GET /v1/admin/orgs/:id", action: "admin.orgs.read", path: "/v1/admin/orgs/east", allowed: adminOnly(), ok: 200},
	{route: "POST /v1/admin/orgs/:id/move", action: "admin.orgs.write", path: "/v1/admin/orgs/west/move",
		body: `{"parent":"east"}`, allowed: adminOnly(), ok: 200},
	{route: "DELETE /v1/admin/orgs/:id", action: "admin.orgs.write", path: "/v1/admin/orgs/spare", allowed: adminOnly(), ok: 204},
	{route: "GET /v1/admin/policies", action: "admin.policies.read", path: "/v1/admin/policies", allowed: adminOnly(), ok: 200},
	{route: "POST /v1/admin/policies/reload", action: "admin.policies.write", path: "/v1/admin/policies/reload",
		allowed: adminOnly(), ok: 200},
	{route: "GET /v1/admin/bizpacks", action: "admin.bizpacks.read", path: "/v1/admin/bizpacks", allowed: adminOnly(), ok: 200},
	{route: "PUT /v1/admin/bizpacks/:name/binaries", action: "admin.bizpacks.write", path: "/v1/admin/bizpacks/virtual-topup/binaries",
		body: "a new build", headers: []string{"Content-Type", "application/octet-stream"}, allowed: adminOnly(), ok: 201},
	{route: "POST /v1/admin/bizpacks/:name/reload", action: "admin.bizpacks.write", path: "/v1/admin/bizpacks/virtual-topup/reload",
		body: `{"path":"/x/virtual-topup-6.6.6","sha256":"` + goodSHA + `"}`, allowed: adminOnly(), ok: 200},
	{route: "POST /v1/admin/bizpacks/:name/rollback", action: "admin.bizpacks.write",
		path: "/v1/admin/bizpacks/virtual-topup/rollback", allowed: adminOnly(), ok: 200},
	{route: "GET /v1/admin/promotions", action: "admin.promotions.read", path: "/v1/admin/promotions", allowed: adminOnly(), ok: 200},
	{route: "PUT /v1/admin/promotions/:id", action: "admin.promotions.write", path: "/v1/admin/promotions/rogue",
		body: fmt.Sprintf(owaspPercentOff, 0), allowed: adminOnly(), ok: 201},
	{route: "GET /v1/admin/promotions/:id", action: "admin.promotions.read", path: "/v1/admin/promotions/pct",
		allowed: adminOnly(), ok: 200},
	{route: "POST /v1/admin/promotions/:id/coupons", action: "admin.promotions.write", path: "/v1/admin/promotions/cpn/coupons",
		body: `{"codes":["ROGUE-1"]}`, allowed: adminOnly(), ok: 201},
	{route: "POST /v1/admin/promotions/:id/budget", action: "admin.promotions.write", path: "/v1/admin/promotions/pct/budget",
		body: `{"amount":500}`, idem: true, allowed: adminOnly(), ok: 200},
	{route: "PUT /v1/admin/promotion-groups", action: "admin.promotions.write", path: "/v1/admin/promotion-groups",
		body: `{"groups":["pct","coupon"]}`, allowed: adminOnly(), ok: 200},
	{route: "GET /v1/coupons/:code", action: "coupon.read", path: "/v1/coupons/{coupon}", ok: 200, object: "coupon"},
	{route: "PUT /v1/admin/credit/:agent", action: "admin.credit.write", path: "/v1/admin/credit/agent-west",
		body: `{"currency":"CNY","limit":70000}`, allowed: adminOnly(), ok: 200},
	{route: "GET /v1/admin/credit/:agent", action: "admin.credit.read", path: "/v1/admin/credit/agent-west",
		allowed: adminOnly(), ok: 200},
	{route: "GET /v1/credit", action: "credit.read_own", path: "/v1/credit", allowed: []string{roleAgent}, ok: 200},
	{route: "POST /v1/orders", action: "order.place", path: "/v1/orders", body: owaspMugOrder, idem: true,
		allowed: []string{roleBuyer, roleAgent}, ok: 201},
	{route: "GET /v1/orders", action: "order.list", path: "/v1/orders", allowed: anyKnownRole, ok: 200},
	{route: "GET /v1/orders/:id", action: "order.read", path: "/v1/orders/{pay}", ok: 200, object: "order"},
	{route: "POST /v1/orders/:id/events", action: "order.event", path: "/v1/orders/{cancel}/events",
		body: `{"event":"cancel","data":{"reason":"changed my mind"}}`, ok: 200, object: "order"},
	{route: "GET /v1/orders/:id/trace", action: "order.trace", path: "/v1/orders/{pay}/trace", ok: 200, object: "order"},
	{route: "GET /v1/orders/:id/history", action: "order.read", path: "/v1/orders/{pay}/history", ok: 200, object: "order"},
	{route: "POST /v1/orders/:id/payments", action: "order.pay", path: "/v1/orders/{pay}/payments",
		body: `{"card":{"number":"` + cardOK + `"}}`, idem: true, ok: 200, object: "order"},
	{route: "GET /v1/orders/:id/payments", action: "order.payments.read", path: "/v1/orders/{pay}/payments", ok: 200, object: "order"},
	{route: "POST /v1/orders/:id/returns", action: "order.return", path: "/v1/orders/{shipped}/returns",
		body: `{"items":[{"sku":"mug","quantity":1}]}`, idem: true, ok: 201, object: "order"},
	{route: "GET /v1/orders/:id/returns", action: "order.returns.read", path: "/v1/orders/{shipped}/returns", ok: 200, object: "order"},
	// The steps of a return name a return the fixture does not open, so the
	// owner's request ends at 403 (the buyer reviews no return) or 404
	// (return_not_found); who may take which step is in the policy's tests
	// (orders_test.rego, decide_test.go) and the retail journey.
	{route: "POST /v1/orders/:id/returns/:returnId/approve", action: "order.return.approve",
		path: "/v1/orders/{shipped}/returns/none/approve", ok: 403, object: "order"},
	{route: "POST /v1/orders/:id/returns/:returnId/reject", action: "order.return.reject",
		path: "/v1/orders/{shipped}/returns/none/reject", body: `{"reason":"no"}`, ok: 403, object: "order"},
	{route: "POST /v1/orders/:id/returns/:returnId/receive", action: "order.return.receive",
		path: "/v1/orders/{shipped}/returns/none/receive", ok: 403, object: "order"},
	{route: "POST /v1/orders/:id/returns/:returnId/cancel", action: "order.return.cancel",
		path: "/v1/orders/{shipped}/returns/none/cancel", ok: 404, object: "order"},
}

// owaspPercentOff is a percent-off promotion with a budget; %d is its version.
const owaspPercentOff = `{"name":"Ten percent off mugs","kind":"percent_off","group":"pct","conditions":{"skus":["mug"]},` +
	`"params":{"basisPoints":1000},"budget":10000,"currency":"CNY","enabled":true,"version":%d}`

// owaspCouponPromotion is a coupon-backed promotion.
const owaspCouponPromotion = `{"name":"5 off","kind":"amount_off","group":"coupon","params":{"amount":500},"couponRequired":true,` +
	`"currency":"CNY","enabled":true,"conditions":{"endsAt":"2099-01-01T00:00:00Z"}}`

const owaspMugOrder = `{"items":[{"sku":"mug","quantity":1}],"shippingAddress":{"region":"CN-31","city":"Shanghai","line1":"1 Bund"}}`

// The table has exactly one row per authenticated route, with the action
// the server asks the policy about: a new endpoint without a row fails here.
func TestOWASPRouteTableIsComplete(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	routes := api.New(api.Config{Service: e.svc, Store: e.st, Kernel: e.k}).Routes()
	if len(routes) == 0 {
		t.Fatal("the server lists no routes")
	}
	table := map[string]routeCase{}
	for _, rc := range owaspRoutes {
		if _, dup := table[rc.route]; dup {
			t.Errorf("route %s has two rows", rc.route)
		}
		table[rc.route] = rc
	}
	for _, route := range slices.Sorted(maps.Keys(routes)) {
		rc, ok := table[route]
		switch {
		case !ok:
			t.Errorf("route %s (action %s) has no row in owaspRoutes", route, routes[route])
		case rc.action != routes[route]:
			t.Errorf("route %s asks about %s; the table says %s", route, routes[route], rc.action)
		}
	}
	for _, route := range slices.Sorted(maps.Keys(table)) {
		if _, ok := routes[route]; !ok {
			t.Errorf("owaspRoutes has a row for %s, which the server does not serve", route)
		}
	}
	for _, rc := range owaspRoutes {
		method, template, _ := strings.Cut(rc.route, " ")
		path, _, _ := strings.Cut(rc.path, "?")
		if !templateMatches(template, path) {
			t.Errorf("row %s: path %s does not match its template", rc.route, rc.path)
		}
		// A route that names an order, a coupon or an identity by id is an API1 route.
		takesObject := strings.HasPrefix(template, "/v1/orders/:id") || strings.HasPrefix(template, "/v1/coupons/:") ||
			strings.HasPrefix(template, "/v1/admin/identities/:")
		if takesObject != (rc.object != "") {
			t.Errorf("row %s: object %q", rc.route, rc.object)
		}
		if (rc.allowed == nil) != (rc.object != "") {
			t.Errorf("row %s: a route is either function-level (allowed roles) or on an object", rc.route)
		}
		if strings.HasPrefix(rc.action, "admin.") && !slices.Equal(rc.allowed, adminOnly()) {
			t.Errorf("row %s: an admin.* action is for admins only", rc.route)
		}
		if rc.body != "" && method == http.MethodGet {
			t.Errorf("row %s: a GET with a body", rc.route)
		}
	}
}

// templateMatches reports whether path fits an echo route template.
func templateMatches(template, path string) bool {
	ts, ps := strings.Split(template, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return false
	}
	for i := range ts {
		if !strings.HasPrefix(ts[i], ":") && ts[i] != ps[i] {
			return false
		}
	}
	return true
}

// owaspFixture is a server with a small tree, principals of every role,
// orders of alice in several states, coupons, promotions, credit lines and
// a fake bizpack host:
//
//	hq ─┬─ east ── sh-01   (alice, buyer; agent-east at east)
//	    ├─ west ── cd-01   (bob, buyer; agent-west at west)
//	    └─ spare           (empty)
type owaspFixture struct {
	e    *env
	fake *fakeBizpacks
	// uploads is the directory of uploaded bizpack binaries.
	uploads string
	// tokens by principal id; byRole is the caller of each role in the
	// function-level matrix.
	tokens map[string]string
	byRole map[string]string
	// Orders of alice (owned by sh-01, identity retail): toPay and toCancel
	// are pending payment, shipped is paid and shipped.
	toPay, toCancel, shipped string
	// coupon is alice's coupon ALICE-1.
	coupon string
	// identity is the business identity ops-retail is granted: retail.
	identity string
}

func newOWASPFixture(t *testing.T, st *store.Store) *owaspFixture {
	t.Helper()
	f := &owaspFixture{fake: newFakeBizpacks(), tokens: map[string]string{"root": adminToken}, uploads: t.TempDir(), identity: "retail"}
	e := newEnv(t, st, withBizpacks(f.fake), withUploads(f.uploads, 0), withReconciler(t, st, nil))
	f.e = e
	for _, o := range [][2]string{{"hq", ""}, {"east", "hq"}, {"sh-01", "east"}, {"west", "hq"}, {"cd-01", "west"}, {"spare", "hq"}} {
		newOrgNode(e, o[0], o[1])
	}
	for _, p := range []struct {
		id, org    string
		identities []string
		roles      []string
	}{
		{"alice", "sh-01", nil, []string{"buyer"}},
		{"bob", "cd-01", nil, []string{"buyer"}},
		{"agent-east", "east", nil, []string{"agent"}},
		{"agent-west", "west", nil, []string{"agent"}},
		{"ops-all", "", []string{"*"}, []string{"operator"}},
		{"ops-retail", "", []string{"retail"}, []string{"operator"}},
		{"ops-b2b", "", []string{"b2b"}, []string{"operator"}},
	} {
		f.tokens[p.id] = newPrincipalAt(e, p.id, p.org, p.identities, p.roles...)
	}
	// The API refuses unknown roles; the store takes them.
	if err := st.CreatePrincipal(t.Context(), store.Principal{ID: "auditor", Roles: roleNone,
		TokenHash: api.TokenHash("auditor-token")}); err != nil {
		t.Fatal(err)
	}
	f.tokens["auditor"] = "auditor-token"
	f.byRole = map[string]string{roleBuyer: f.tokens["alice"], roleAgent: f.tokens["agent-east"],
		roleOperator: f.tokens["ops-all"], roleAdmin: adminToken, roleNone: f.tokens["auditor"]}

	e.sku("mug", 1200, "kitchen", false, 50)
	alice := f.tokens["alice"]
	place := func(key string) string {
		t.Helper()
		r := e.do("POST", "/v1/orders", alice, owaspMugOrder, "Idempotency-Key", key)
		expect(t, r, 201, "")
		v := decodeView(t, r)
		if v.OwnerOrg != "sh-01" || v.BizCode != "retail" || v.Status != "pending_payment" {
			t.Fatalf("alice's order: %+v", v)
		}
		return v.ID
	}
	f.toPay, f.toCancel, f.shipped = place("fx-pay"), place("fx-cancel"), place("fx-shipped")
	expect(t, e.pay(alice, f.shipped, "fx-shipped-pay", cardOK), 200, "")
	if v := e.fire(f.tokens["ops-all"], f.shipped, "ship", nil); v.Status != "pending_inbound" {
		t.Fatalf("shipped: %+v", v)
	}

	for _, c := range []struct{ path, body string }{
		{"/v1/admin/credit/agent-east", `{"currency":"CNY","limit":100000}`},
		{"/v1/admin/credit/agent-west", `{"currency":"CNY","limit":50000}`},
		{"/v1/admin/promotions/pct", fmt.Sprintf(owaspPercentOff, 0)},
		{"/v1/admin/promotions/cpn", owaspCouponPromotion},
	} {
		r := e.do("PUT", c.path, adminToken, c.body)
		if r.status != 200 && r.status != 201 {
			t.Fatalf("PUT %s: %s", c.path, r)
		}
	}
	for _, c := range []struct{ owner, code string }{{"alice", "ALICE-1"}, {"bob", "BOB-1"}, {"", "ANY-1"}} {
		body := map[string]any{"codes": []string{c.code}}
		if c.owner != "" {
			body["owner"] = c.owner
		}
		expect(t, e.do("POST", "/v1/admin/promotions/cpn/coupons", adminToken, body), 201, "")
	}
	f.coupon = "ALICE-1"
	return f
}

// path is the row's path with the fixture's resources in it.
func (f *owaspFixture) path(rc routeCase) string {
	return strings.NewReplacer("{pay}", f.toPay, "{cancel}", f.toCancel, "{shipped}", f.shipped, "{coupon}", f.coupon,
		"{identity}", f.identity).Replace(rc.path)
}

// send sends the row's request as token; key is the Idempotency-Key of a
// route that needs one.
func (f *owaspFixture) send(e *env, rc routeCase, token, key string) reply {
	method, _, _ := strings.Cut(rc.route, " ")
	var body any
	if rc.body != "" {
		body = rc.body
	}
	headers := slices.Clone(rc.headers)
	if rc.idem {
		headers = append(headers, "Idempotency-Key", key)
	}
	return e.do(method, f.path(rc), token, body, headers...)
}

// snapshot is what refused requests must leave as it was: the admin's view
// of every resource the routes write, and the owner's view of alice's
// orders and their payments, returns and trace.
func (f *owaspFixture) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	read := func(token string, paths ...string) {
		for _, p := range paths {
			r := f.e.with(t).do("GET", p, token, nil)
			out[p] = r.String()
		}
	}
	read(adminToken, "/v1/skus/owasp-cap", "/v1/stock/mug", "/v1/locations", "/v1/admin/principals/mallory",
		"/v1/admin/orgs?limit=100", "/v1/admin/orgs/west", "/v1/admin/orgs/spare", "/v1/admin/orgs/rogue",
		"/v1/admin/policies", "/v1/admin/bizpacks", "/v1/admin/promotions", "/v1/admin/promotions/pct",
		"/v1/admin/promotions/rogue", "/v1/coupons/ROGUE-1", "/v1/admin/credit/agent-east", "/v1/admin/credit/agent-west",
		"/v1/orders?limit=100", "/v1/admin/identities", "/v1/admin/identities/retail", "/v1/admin/identities/retail.new",
		"/v1/admin/audit?targetType=identity")
	read(f.tokens["alice"], "/v1/coupons/ALICE-1")
	for _, id := range []string{f.toPay, f.toCancel, f.shipped} {
		read(f.tokens["alice"], "/v1/orders/"+id, "/v1/orders/"+id+"/payments", "/v1/orders/"+id+"/returns",
			"/v1/orders/"+id+"/trace")
	}
	return out
}

// unchanged fails for every entry of before that reads differently now.
func (f *owaspFixture) unchanged(t *testing.T, before map[string]string) {
	t.Helper()
	after := f.snapshot(t)
	for _, p := range slices.Sorted(maps.Keys(before)) {
		b, a := before[p], after[p]
		// The answers carry a trace id of their own.
		if stripTraceID(b) != stripTraceID(a) {
			t.Errorf("refused requests changed GET %s:\nbefore %s\nafter  %s", p, b, a)
		}
	}
	if loads, rollbacks := f.fake.calls(); len(loads) != 0 || len(rollbacks) != 0 {
		t.Errorf("refused requests reached the bizpack host: reloads %+v, rollbacks %v", loads, rollbacks)
	}
	if files := filesUnder(t, f.uploads); len(files) != 0 {
		t.Errorf("refused requests uploaded %v", files)
	}
}

// stripTraceID drops the traceId member of a problem answer.
func stripTraceID(s string) string {
	if i := strings.Index(s, `"traceId":"`); i >= 0 {
		if j := strings.IndexByte(s[i+len(`"traceId":"`):], '"'); j >= 0 {
			return s[:i] + s[i+len(`"traceId":"`)+j+1:]
		}
	}
	return s
}

// API5: every route refuses a request without a valid token (401, with
// WWW-Authenticate); every function-level route refuses, with 403
// forbidden naming its action, each role the policy does not let through —
// every admin.* route refuses buyers, agents and operators — and nothing
// changes. Then the same requests pass for the roles that may send them,
// which shows the bodies were valid: the refusals came from authorisation.
func TestOWASPFunctionLevelAuthorization(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newOWASPFixture(t, st)
		e := f.e
		before := f.snapshot(t)
		key := 0
		nextKey := func() string { key++; return fmt.Sprintf("owasp-%d", key) }

		for _, rc := range owaspRoutes {
			t.Run("refused "+rc.route, func(t *testing.T) {
				e := e.with(t)
				for _, token := range []string{"", "not-a-token", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"} {
					r := f.send(e, rc, token, nextKey())
					expect(t, r, 401, "unauthenticated")
					if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("401 without a Bearer challenge: %v", r.header)
					}
				}
				if rc.allowed == nil {
					return
				}
				for _, role := range everyRole {
					if slices.Contains(rc.allowed, role) {
						continue
					}
					r := f.send(e, rc, f.byRole[role], nextKey())
					expect(t, r, 403, "forbidden")
					if got := r.json(t)["action"]; got != rc.action {
						t.Errorf("%s refused to %s naming action %v; want %s", rc.route, role, got, rc.action)
					}
				}
			})
		}
		// The admin.* routes, explicitly: the three non-admin roles are refused.
		admin := 0
		for _, rc := range owaspRoutes {
			if strings.HasPrefix(rc.action, "admin.") {
				admin++
				for _, role := range []string{roleBuyer, roleAgent, roleOperator} {
					if slices.Contains(rc.allowed, role) {
						t.Errorf("%s lets %s through", rc.route, role)
					}
				}
			}
		}
		if admin < 25 {
			t.Fatalf("only %d admin routes in the table", admin)
		}
		f.unchanged(t, before)

		// Positive phase, in table order: the allowed roles pass.
		for _, rc := range owaspRoutes {
			for _, role := range rc.allowed {
				r := f.send(e, rc, f.byRole[role], nextKey())
				expect(t, r, rc.ok, "")
			}
		}
		// And the admin's writes took effect, so they would have been seen above.
		expect(t, e.do("GET", "/v1/skus/owasp-cap", f.tokens["alice"], nil), 200, "")
		expect(t, e.do("GET", "/v1/admin/principals/mallory", adminToken, nil), 200, "")
		expect(t, e.do("GET", "/v1/admin/orgs/spare", adminToken, nil), 404, "org_not_found")
		if loads, rollbacks := f.fake.calls(); len(loads) != 1 || len(rollbacks) != 1 {
			t.Errorf("the admin's bizpack calls: reloads %+v, rollbacks %v", loads, rollbacks)
		}
	})
}

// API1: a principal that may not know an order or a coupon exists gets
// exactly the answer of a missing one (404) on every route that names it —
// another buyer, an agent of another subtree, an operator without the
// order's identity — and nothing changes: no payment, no event, no return.
// A principal that may see an order but not act gets 403. Afterwards the
// owner's same requests pass.
func TestOWASPObjectLevelAuthorization(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newOWASPFixture(t, st)
		e := f.e
		before := f.snapshot(t)
		key := 0
		nextKey := func() string { key++; return fmt.Sprintf("bola-%d", key) }

		attackers := map[string][]string{
			"order":  {"bob", "agent-west", "ops-b2b", "auditor"},
			"coupon": {"bob", "agent-west", "auditor"},
			// Only operators granted an identity, and admins, may know it.
			"identity": {"ops-b2b", "alice", "agent-west", "auditor"},
		}
		notFound := map[string]string{"order": "order_not_found", "coupon": "coupon_not_found", "identity": "identity_not_found"}
		// owner may use the route on the fixture's resource.
		owner := map[string]string{"order": "alice", "coupon": "alice", "identity": "ops-retail"}
		for _, rc := range owaspRoutes {
			if rc.object == "" {
				continue
			}
			t.Run("foreign "+rc.route, func(t *testing.T) {
				e := e.with(t)
				// The answer for an id that does not exist, to compare with.
				missing := rc
				missing.path = strings.NewReplacer("{pay}", "o00missing0000", "{cancel}", "o00missing0000",
					"{shipped}", "o00missing0000", "{coupon}", "NO-SUCH-COUPON", "{identity}", "no.such.identity").Replace(rc.path)
				if rc.object == "identity" && !strings.HasPrefix(rc.route, "GET ") {
					// Writing a missing identity creates it: compare with reading one.
					missing = routeCase{route: "GET /v1/admin/identities/:code", path: "/v1/admin/identities/no.such.identity"}
				}
				absent := f.send(e, missing, f.tokens["bob"], nextKey())
				expect(t, absent, 404, notFound[rc.object])
				for _, who := range attackers[rc.object] {
					r := f.send(e, rc, f.tokens[who], nextKey())
					expect(t, r, 404, notFound[rc.object])
					if got, want := problemShape(t, r), problemShape(t, absent); got != want {
						t.Errorf("%s: a foreign %s reads differently from a missing one:\n%s\n%s", who, rc.object, r, absent)
					}
				}
			})
		}

		// Visible but not allowed: 403, with what the caller may do.
		agentEast := f.tokens["agent-east"]
		for _, tc := range []struct {
			name, who, method, path, body string
			idem                          bool
			code                          string
			permitted                     []string
		}{
			{"the subtree's agent pays", "agent-east", "POST", "/v1/orders/" + f.toPay + "/payments", `{"card":{"number":"` + cardOK + `"}}`, true, "forbidden", nil},
			{"an operator pays", "ops-retail", "POST", "/v1/orders/" + f.toPay + "/payments", `{"card":{"number":"` + cardOK + `"}}`, true, "forbidden", nil},
			{"the admin pays", "root", "POST", "/v1/orders/" + f.toPay + "/payments", `{"card":{"number":"` + cardOK + `"}}`, true, "forbidden", nil},
			{"the buyer ships", "alice", "POST", "/v1/orders/" + f.toCancel + "/events", `{"event":"ship"}`, false, "forbidden_event", []string{"cancel", "receive"}},
			{"the subtree's agent fails a payment", "agent-east", "POST", "/v1/orders/" + f.shipped + "/events", `{"event":"payment_fail"}`, false, "forbidden_event", []string{"cancel", "receive"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var headers []string
				if tc.idem {
					headers = []string{"Idempotency-Key", nextKey()}
				}
				r := e.with(t).do(tc.method, tc.path, f.tokens[tc.who], tc.body, headers...)
				expect(t, r, 403, tc.code)
				p := r.json(t)
				if tc.code == "forbidden_event" {
					var got []string
					for _, ev := range p["permittedEvents"].([]any) {
						got = append(got, ev.(string))
					}
					if slices.Sort(got); !slices.Equal(got, tc.permitted) {
						t.Errorf("permittedEvents %v; want %v", got, tc.permitted)
					}
				} else if p["action"] != "order.pay" {
					t.Errorf("refusal names action %v", p["action"])
				}
			})
		}
		// Those who may see the orders do see them, and list them.
		for _, who := range []string{"alice", "agent-east", "ops-retail", "ops-all", "root"} {
			expect(t, e.do("GET", "/v1/orders/"+f.toPay, f.tokens[who], nil), 200, "")
			if got := orderIDs(e.orders(f.tokens[who], "", 100)); !containsAll(got, f.toPay, f.toCancel, f.shipped) {
				t.Errorf("%s lists %v, not alice's orders", who, got)
			}
		}
		// The others list none of alice's orders, whatever the query asks.
		for _, who := range attackers["order"][:3] {
			for _, q := range []string{"", "&bizCode=retail", "&status=pending_payment"} {
				for _, id := range orderIDs(e.orders(f.tokens[who], q, 100)) {
					if id == f.toPay || id == f.toCancel || id == f.shipped {
						t.Errorf("%s lists alice's order %s (query %q)", who, id, q)
					}
				}
			}
		}
		// Credit is the caller's own: no agent reads another's.
		for _, tc := range []struct {
			who   string
			limit float64
		}{{"agent-east", 100000}, {"agent-west", 50000}} {
			r := e.do("GET", "/v1/credit", f.tokens[tc.who], nil)
			expect(t, r, 200, "")
			acct, _ := r.json(t)["account"].(map[string]any)
			if acct["agentId"] != tc.who || acct["creditLimit"] != tc.limit {
				t.Errorf("%s reads the credit line %v", tc.who, acct)
			}
		}
		expect(t, e.do("GET", "/v1/admin/credit/agent-west", agentEast, nil), 403, "forbidden")
		// Coupons: its owner and holders of every identity read one; an
		// unowned coupon is anyone's.
		for _, tc := range []struct {
			who, code string
			status    int
		}{
			{"alice", "ALICE-1", 200}, {"ops-all", "ALICE-1", 200}, {"root", "ALICE-1", 200},
			{"alice", "BOB-1", 404}, {"bob", "BOB-1", 200},
			{"alice", "ANY-1", 200}, {"bob", "ANY-1", 200}, {"agent-west", "ANY-1", 200},
		} {
			r := e.do("GET", "/v1/coupons/"+tc.code, f.tokens[tc.who], nil)
			if r.status != tc.status {
				t.Errorf("%s reads coupon %s: %s; want %d", tc.who, tc.code, r, tc.status)
			}
		}
		f.unchanged(t, before)

		// The owner's requests pass: the refusals were not about the bodies.
		for _, rc := range owaspRoutes {
			if rc.object != "" {
				expect(t, f.send(e, rc, f.tokens[owner[rc.object]], nextKey()), rc.ok, "")
			}
		}
	})
}

// problemShape is what a 404 may show: its members' names, status, code
// and title (not the id it names nor its trace id).
func problemShape(t *testing.T, r reply) string {
	t.Helper()
	p := r.json(t)
	return fmt.Sprint(slices.Sorted(maps.Keys(p)), p["status"], p["code"], p["title"], p["type"])
}

func orderIDs(vs []order.View) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	return out
}

func containsAll(s []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(s, w) {
			return false
		}
	}
	return true
}

// newOrgNode creates an org node through the admin API.
func newOrgNode(e *env, id, parent string) api.OrgView {
	e.t.Helper()
	r := e.do("POST", "/v1/admin/orgs", adminToken, api.OrgRequest{ID: id, Parent: parent})
	expect(e.t, r, 201, "")
	var v api.OrgView
	if err := json.Unmarshal(r.raw, &v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

// newPrincipalAt creates a principal at an org node (none for ""), with
// operator grants, through the admin API, and returns its token.
func newPrincipalAt(e *env, id, org string, identities []string, roles ...string) string {
	e.t.Helper()
	r := e.do("POST", "/v1/admin/principals", adminToken, api.PrincipalRequest{ID: id, Roles: roles, Org: org, Identities: identities})
	expect(e.t, r, 201, "")
	tok, _ := r.json(e.t)["token"].(string)
	if tok == "" {
		e.t.Fatalf("no token in %s", r)
	}
	return tok
}
