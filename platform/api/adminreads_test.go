package api_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// meActions are the actions GET /v1/me reports on.
var meActions = []string{"identity.list", "identity.create", "extensions.read", "order.list", "order.place",
	"admin.bizpacks.read", "admin.bizpacks.write", "admin.audit.read", "admin.orgs.read", "admin.orgs.write",
	"admin.principals.read", "admin.principals.write", "admin.policies.read", "admin.webhooks.read", "admin.webhooks.write",
	"admin.reconciliation.read", "admin.reconciliation.run", "admin.reconciliation.resolve", "admin.payments.read", "admin.payments.retry",
	"admin.events.read", "admin.dashboard.read", "admin.fulfilment.read", "admin.fulfilment.resolve"}

// canOnly is a `can` map in which exactly the given actions are allowed.
func canOnly(allowed ...string) map[string]bool {
	out := map[string]bool{}
	for _, a := range meActions {
		out[a] = slices.Contains(allowed, a)
	}
	return out
}

// GET /v1/me answers who the caller is, as authenticated, and what the
// shipped policy lets each role do; every authenticated caller may ask.
func TestMe(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	newOrgNode(e, "hq", "")
	newOrgNode(e, "east", "hq")
	ops := newPrincipalAt(e, "ops-retail", "", []string{"retail", "b2b"}, "operator")
	alice := newPrincipalAt(e, "alice", "east", nil, "buyer")
	agent := newPrincipalAt(e, "agent-east", "east", nil, "agent")
	if err := e.st.CreatePrincipal(t.Context(), store.Principal{ID: "auditor", Roles: "auditor", TokenHash: api.TokenHash("auditor-token")}); err != nil {
		t.Fatal(err)
	}
	allAdmin := []string{"identity.list", "identity.create", "extensions.read", "order.list"}
	for _, a := range meActions {
		if strings.HasPrefix(a, "admin.") {
			allAdmin = append(allAdmin, a)
		}
	}
	tests := []struct {
		name, token string
		want        api.Me
	}{
		// The admin configures everything and lists every order, but buys nothing.
		{"admin", adminToken, api.Me{ID: "root", Roles: []string{"admin"}, Identities: []string{}, Can: canOnly(allAdmin...)}},
		{"operator", ops, api.Me{ID: "ops-retail", Roles: []string{"operator"}, Identities: []string{"retail", "b2b"},
			Can: canOnly("identity.list", "identity.create", "extensions.read", "order.list")}},
		{"buyer", alice, api.Me{ID: "alice", Roles: []string{"buyer"}, Org: "east", OrgPath: "/hq/east/", Identities: []string{},
			Can: canOnly("order.list", "order.place")}},
		{"agent", agent, api.Me{ID: "agent-east", Roles: []string{"agent"}, Org: "east", OrgPath: "/hq/east/", Identities: []string{},
			Can: canOnly("order.list", "order.place")}},
		{"no known role", "auditor-token", api.Me{ID: "auditor", Roles: []string{"auditor"}, Identities: []string{}, Can: canOnly()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.with(t).do("GET", "/v1/me", tc.token, nil)
			expect(t, r, 200, "")
			got := decodeJSON[api.Me](t, r)
			if got.ID != tc.want.ID || !slices.Equal(got.Roles, tc.want.Roles) || got.Org != tc.want.Org ||
				got.OrgPath != tc.want.OrgPath || !slices.Equal(got.Identities, tc.want.Identities) || !maps.Equal(got.Can, tc.want.Can) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	expect(t, e.do("GET", "/v1/me", "", nil), 401, "unauthenticated")
	expect(t, e.do("GET", "/v1/me", "not-a-token", nil), 401, "unauthenticated")
}

// The catalogue is every point the kernel knows, with its contract; the
// product list every registered product with the points it binds. Both
// are for those who configure (operators and admins).
func TestCatalogues(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	ops, alice := e.principal("ops", "operator"), e.principal("alice", "buyer")

	r := e.do("GET", "/v1/admin/extension-points", ops, nil)
	expect(t, r, 200, "")
	points := decodeJSON[api.PointList](t, r).Items
	want := e.k.Catalogue().Points()
	if len(points) != len(want) || len(want) < 9 {
		t.Fatalf("%d points; the catalogue has %d", len(points), len(want))
	}
	for i, p := range points {
		w := want[i]
		if p.Name != w.Name || p.Domain != w.Domain || p.Doc != w.Doc || p.Reducer != w.Reducer || p.Policy != w.Policy ||
			p.DeadlineMillis != w.Deadline.Milliseconds() || p.DeadlineMillis <= 0 || p.Request != w.Request || p.Response != w.Response {
			t.Errorf("point %d: %+v; the catalogue says %+v", i, p, w)
		}
	}
	if i := slices.IndexFunc(points, func(p api.PointView) bool { return p.Name == "order.guard" }); i < 0 ||
		points[i].Reducer != "all-pass" || points[i].Policy != "fail" || points[i].DeadlineMillis != 50 {
		t.Errorf("order.guard: %+v", points)
	}

	r = e.do("GET", "/v1/admin/products", ops, nil)
	expect(t, r, 200, "")
	sameJSON(t, stripDocs(t, r.raw), `{"items":[`+
		`{"name":"b2b-distribution","version":"1","priority":10,"paymentTimeout":"2h0m0s",`+
		`"points":["order.guard","order.validate","payment.methods","pricing.adjust"],"lifecycle":true},`+
		`{"name":"standard-retail","version":"1","priority":10,"paymentTimeout":"30m0s",`+
		`"points":["delivery.freight","order.validate","payment.methods","pricing.adjust"],"lifecycle":true},`+
		`{"name":"virtual-goods","version":"1","priority":10,"paymentTimeout":"15m0s",`+
		`"points":["delivery.freight","delivery.required","order.validate","payment.methods"],"lifecycle":true}]}`)
	for _, p := range decodeJSON[api.ProductList](t, r).Items {
		if p.Doc == "" {
			t.Errorf("product %s has no doc", p.Name)
		}
	}

	for _, path := range []string{"/v1/admin/extension-points", "/v1/admin/products"} {
		expect(t, e.do("GET", path, adminToken, nil), 200, "")
		r := e.do("GET", path, alice, nil)
		expect(t, r, 403, "forbidden")
		if r.json(t)["action"] != "extensions.read" {
			t.Errorf("%s: %s", path, r)
		}
	}
}

// stripDocs drops the doc of every item of a list, to compare the rest.
func stripDocs(t *testing.T, raw []byte) []byte {
	t.Helper()
	var l struct{ Items []map[string]any }
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatal(err)
	}
	for _, it := range l.Items {
		delete(it, "doc")
	}
	out, err := json.Marshal(map[string]any{"items": l.Items})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The audit log pages newest first without skipping or repeating an
// entry, filters by target, and is the admin's alone.
func TestAuditListing(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ops := e.principal("ops", "operator")
		codes := []string{"shop.a", "shop.b", "shop.c", "shop.a", "shop.d"}
		for i, code := range codes {
			status := 201
			if i == 3 { // shop.a again
				status = 200
			}
			expect(t, e.putIdentity(adminToken, code, map[string]any{"name": fmt.Sprint("change ", i),
				"products": []map[string]any{{"name": "standard-retail"}}}, ""), status, "")
		}
		var ids []int64
		var names []string
		cursor := ""
		pages := 0
		for range 10 {
			path := "/v1/admin/audit?targetType=identity&limit=2"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			r := e.do("GET", path, adminToken, nil)
			expect(t, r, 200, "")
			page := decodeJSON[api.AuditList](t, r)
			pages++
			if len(page.Items) > 2 {
				t.Fatalf("a page of %d for limit 2", len(page.Items))
			}
			for _, it := range page.Items {
				ids = append(ids, it.ID)
				var after auditedIdentity
				if err := json.Unmarshal(it.After, &after); err != nil {
					t.Fatal(err)
				}
				names = append(names, after.Identity.Name)
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if pages != 3 {
			t.Errorf("%d pages for 5 entries by 2", pages)
		}
		if !slices.IsSortedFunc(ids, func(a, b int64) int { return int(b - a) }) || len(slices.Compact(slices.Clone(ids))) != 5 {
			t.Errorf("entry ids %v: not newest first, or repeated", ids)
		}
		if want := []string{"change 4", "change 3", "change 2", "change 1", "change 0"}; !slices.Equal(names, want) {
			t.Errorf("entries %v; want %v", names, want)
		}
		// One target.
		r := e.do("GET", "/v1/admin/audit?targetType=identity&targetId=shop.a", adminToken, nil)
		expect(t, r, 200, "")
		if got := decodeJSON[api.AuditList](t, r); len(got.Items) != 2 || got.Items[0].Verb != "update" || got.Items[1].Verb != "create" ||
			got.NextCursor != "" {
			t.Errorf("shop.a: %s", r)
		}
		// Nothing of another type.
		r = e.do("GET", "/v1/admin/audit?targetType=no-such-type", adminToken, nil)
		expect(t, r, 200, "")
		sameJSON(t, r.raw, `{"items":[]}`)

		for _, q := range []string{"cursor=abc", "cursor=0", "cursor=-4"} {
			expect(t, e.do("GET", "/v1/admin/audit?"+q, adminToken, nil), 400, "invalid_cursor")
		}
		for _, q := range []string{"limit=0", "limit=101", "limit=x"} {
			expect(t, e.do("GET", "/v1/admin/audit?"+q, adminToken, nil), 400, "invalid_limit")
		}
		r = e.do("GET", "/v1/admin/audit", ops, nil)
		expect(t, r, 403, "forbidden")
		if r.json(t)["action"] != "admin.audit.read" {
			t.Errorf("the 403 names %v", r.json(t)["action"])
		}
	})
}

// Principals are listed by id, a page at a time, never with a token;
// ?org= keeps one subtree.
func TestPrincipalListing(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		for _, o := range [][2]string{{"hq", ""}, {"east", "hq"}, {"sh-01", "east"}, {"eastern", "hq"}} {
			newOrgNode(e, o[0], o[1])
		}
		at := map[string]string{"p-a": "east", "p-b": "sh-01", "p-c": "eastern", "p-d": "", "p-e": "hq"}
		for _, id := range slices.Sorted(maps.Keys(at)) {
			newPrincipalAt(e, id, at[id], nil, "buyer")
		}
		ops := newPrincipalAt(e, "ops", "", []string{"*"}, "operator")

		list := func(query string, limit int) []api.PrincipalView {
			t.Helper()
			var all []api.PrincipalView
			cursor := ""
			for range 20 {
				path := "/v1/admin/principals?limit=" + strconv.Itoa(limit) + query
				if cursor != "" {
					path += "&cursor=" + cursor
				}
				r := e.do("GET", path, adminToken, nil)
				expect(t, r, 200, "")
				if strings.Contains(string(r.raw), "token") {
					t.Fatalf("a principal listed with a token: %s", r)
				}
				page := decodeJSON[api.PrincipalList](t, r)
				if len(page.Items) > limit {
					t.Fatalf("%d items for limit %d", len(page.Items), limit)
				}
				all = append(all, page.Items...)
				if page.NextCursor == "" {
					return all
				}
				cursor = page.NextCursor
			}
			t.Fatal("the cursor never ends")
			return nil
		}
		ids := func(vs []api.PrincipalView) []string {
			out := make([]string, len(vs))
			for i, v := range vs {
				out[i] = v.ID
			}
			return out
		}
		for _, limit := range []int{1, 2, 100} {
			if got, want := ids(list("", limit)), []string{"ops", "p-a", "p-b", "p-c", "p-d", "p-e", "root"}; !slices.Equal(got, want) {
				t.Errorf("limit %d: %v; want %v", limit, got, want)
			}
		}
		east := list("&org=east", 2)
		if got := ids(east); !slices.Equal(got, []string{"p-a", "p-b"}) {
			t.Errorf("the subtree of east: %v", got)
		}
		for _, v := range east {
			if want := map[string]string{"p-a": "/hq/east/", "p-b": "/hq/east/sh-01/"}[v.ID]; v.OrgPath != want || v.Org != at[v.ID] ||
				!slices.Equal(v.Roles, []string{"buyer"}) || v.CreatedAt.IsZero() {
				t.Errorf("%+v", v)
			}
		}
		if got := ids(list("&org=hq", 100)); !slices.Equal(got, []string{"p-a", "p-b", "p-c", "p-e"}) {
			t.Errorf("the subtree of hq: %v", got)
		}
		expect(t, e.do("GET", "/v1/admin/principals?org=ghost", adminToken, nil), 404, "org_not_found")
		expect(t, e.do("GET", "/v1/admin/principals?cursor=a%20b", adminToken, nil), 400, "invalid_cursor")
		expect(t, e.do("GET", "/v1/admin/principals?limit=0", adminToken, nil), 400, "invalid_limit")
		expect(t, e.do("GET", "/v1/admin/principals", ops, nil), 403, "forbidden")
	})
}

// ?buyerId= keeps one buyer's orders among those the caller may see.
func TestOrderListByBuyer(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	e.sku("mug", 1200, "kitchen", false, 50)
	alice, bob, ops := e.principal("alice", "buyer"), e.principal("bob", "buyer"), e.principal("ops", "operator")
	placed := map[string][]string{}
	for i, who := range []string{"alice", "bob", "alice", "bob", "alice"} {
		tok := map[string]string{"alice": alice, "bob": bob}[who]
		r := e.do("POST", "/v1/orders", tok, retailBody("mug", 1), "Idempotency-Key", fmt.Sprint("by-buyer-", i))
		expect(t, r, 201, "")
		placed[who] = append(placed[who], decodeView(t, r).ID)
	}
	tests := []struct {
		name, token, buyer string
		want               []string
	}{
		{"admin, alice's", adminToken, "alice", placed["alice"]},
		{"operator, bob's", ops, "bob", placed["bob"]},
		{"alice, her own", alice, "alice", placed["alice"]},
		// The filter narrows what the caller may see; it never widens it.
		{"alice, bob's", alice, "bob", nil},
		{"nobody's", adminToken, "carol", nil},
		{"everyone's", adminToken, "", append(slices.Clone(placed["alice"]), placed["bob"]...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := orderIDs(e.with(t).orders(tc.token, "&buyerId="+tc.buyer, 2))
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("got %v; want %v", got, want)
			}
		})
	}
}
