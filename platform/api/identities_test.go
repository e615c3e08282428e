package api_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// putIdentity sends PUT /v1/admin/identities/{code}, with If-Match when
// ifMatch is not "".
func (e *env) putIdentity(token, code string, body any, ifMatch string) reply {
	e.t.Helper()
	// "" overwrites knowingly (If-Match: *); "none" sends no If-Match.
	h := []string{"If-Match", "*"}
	switch ifMatch {
	case "none":
		h = nil
	case "":
	default:
		h = []string{"If-Match", ifMatch}
	}
	return e.do("PUT", "/v1/admin/identities/"+code, token, body, h...)
}

// identity reads an identity as the admin, with its ETag.
func (e *env) identity(code string) (api.IdentityView, string) {
	e.t.Helper()
	r := e.do("GET", "/v1/admin/identities/"+code, adminToken, nil)
	expect(e.t, r, 200, "")
	return decodeJSON[api.IdentityView](e.t, r), r.header.Get("ETag")
}

// identities lists the identities token may read.
func (e *env) identities(token string) api.IdentityList {
	e.t.Helper()
	r := e.do("GET", "/v1/admin/identities", token, nil)
	expect(e.t, r, 200, "")
	return decodeJSON[api.IdentityList](e.t, r)
}

// auditTrail is every audit entry about a target (targetID "" for every
// target of the type), newest first, following the cursor.
func (e *env) auditTrail(targetType, targetID string) []store.AuditEntry {
	e.t.Helper()
	var all []store.AuditEntry
	cursor := ""
	for range 100 {
		path := "/v1/admin/audit?limit=7&targetType=" + targetType
		if targetID != "" {
			path += "&targetId=" + targetID
		}
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := e.do("GET", path, adminToken, nil)
		expect(e.t, r, 200, "")
		page := decodeJSON[api.AuditList](e.t, r)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
	e.t.Fatal("the audit cursor never ends")
	return nil
}

func identityCodes(l api.IdentityList) []string {
	out := make([]string, len(l.Items))
	for i, v := range l.Items {
		out[i] = v.Code
	}
	return out
}

// auditedIdentity is what an identity's audit entry holds.
type auditedIdentity struct {
	Identity kernel.IdentitySpec `json:"identity"`
	Rules    []api.RuleView      `json:"rules"`
}

// The list holds every identity of the configuration by code, with its
// parent, rules and what it inherits; one identity reads as in the list,
// with the revision as its ETag.
func TestIdentityListAndGet(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	list := e.identities(adminToken)
	if got, want := identityCodes(list), []string{"b2b", "domestic", "faulty", "retail", "retail.vip", "virtual.topup"}; list.Revision != 1 ||
		!slices.Equal(got, want) {
		t.Fatalf("revision %d, identities %v; want 1, %v", list.Revision, got, want)
	}
	byCode := map[string]api.IdentityView{}
	for _, v := range list.Items {
		byCode[v.Code] = v
	}
	tests := []struct {
		code, parent   string
		products       []string // its own
		effective      []string
		paymentTimeout string // effective
		rules          string // JSON
	}{
		{"retail", "", []string{"standard-retail"}, []string{"standard-retail"}, "30m0s", `[{}]`},
		// Nothing of its own: it inherits retail's product and timeout.
		{"retail.vip", "retail", nil, []string{"standard-retail"}, "30m0s", `[{"buyer":{"tier":"vip"}}]`},
		{"virtual.topup", "virtual", []string{"virtual-goods"}, []string{"virtual-goods"}, "15m0s", `[{"category":"topup"}]`},
		{"b2b", "", []string{"b2b-distribution"}, []string{"b2b-distribution"}, "2h0m0s", `[]`},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			v := byCode[tc.code]
			var own []string
			for _, p := range v.Products {
				own = append(own, p.Name)
			}
			if v.Parent != tc.parent || !slices.Equal(own, tc.products) || !slices.Equal(v.Effective.Products, tc.effective) ||
				v.Effective.PaymentTimeout != tc.paymentTimeout || v.PaymentTimeout != "" || v.Revision != 1 || v.Disabled {
				t.Errorf("%s in the list: %+v", tc.code, v)
			}
			rules, _ := json.Marshal(v.Rules)
			sameJSON(t, rules, tc.rules)
			r := e.with(t).do("GET", "/v1/admin/identities/"+tc.code, adminToken, nil)
			expect(t, r, 200, "")
			if tag := r.header.Get("ETag"); tag != `"1"` {
				t.Errorf("ETag %q; want \"1\"", tag)
			}
			inList, _ := json.Marshal(v)
			sameJSON(t, r.raw, string(inList))
		})
	}
	// A product's arguments are shown as configured.
	if d := byCode["domestic"]; len(d.Products) != 1 || !strings.Contains(string(d.Products[0].Args["delivery.freight"]), `"CN-31"`) {
		t.Errorf("domestic: %+v", d.Products)
	}
	r := e.do("GET", "/v1/admin/identities/ghost", adminToken, nil)
	expect(t, r, 404, "identity_not_found")
	if r.json(t)["identity"] != "ghost" {
		t.Errorf("the 404 does not name the identity: %s", r)
	}
}

// A change is saved as the next revision with its audit entry: 201 for a
// new code, 200 for a change, the new revision as the ETag; an If-Match
// older than a change of the identity is 412 with the revision in force,
// and saves nothing, while changes of other identities meanwhile do not
// matter; without If-Match the last writer wins.
func TestIdentityPut(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		created := e.putIdentity(adminToken, "retail.app", map[string]any{"name": "App orders",
			"products": []map[string]any{{"name": "standard-retail"}}, "paymentTimeout": "20m", "returnWindow": "72h",
			"rules": []map[string]any{{"channel": "app"}}}, `"1"`)
		expect(t, created, 201, "")
		if tag := created.header.Get("ETag"); tag != `"2"` {
			t.Errorf("ETag %q after the creation", tag)
		}
		sameJSON(t, created.raw, `{"revision":2,"identity":{"code":"retail.app","name":"App orders","parent":"retail","disabled":false,`+
			`"products":[{"name":"standard-retail"}],"bizpacks":[],"paymentTimeout":"20m0s","returnWindow":"72h0m0s","rules":[{"channel":"app"}],`+
			`"effective":{"products":["standard-retail"],"paymentTimeout":"20m0s","returnWindow":"72h0m0s"},"revision":2}}`)
		v, tag := e.identity("retail.app")
		if tag != `"2"` || v.Name != "App orders" {
			t.Fatalf("read back: %s %+v", tag, v)
		}
		if l := e.identities(adminToken); l.Revision != 2 || !slices.Contains(identityCodes(l), "retail.app") {
			t.Fatalf("list after the creation: %d %v", l.Revision, identityCodes(l))
		}

		// A change: the timeout and the return window are inherited again, a bizpack is bound.
		changed := e.putIdentity(adminToken, "retail.app", map[string]any{"name": "App",
			"products": []map[string]any{{"name": "standard-retail", "priority": 15}}, "bizpacks": []map[string]any{{"name": "faulty", "priority": 3}},
			"rules": []map[string]any{{"channel": "app", "buyer": map[string]string{"tier": "gold"}}}}, `"2"`)
		expect(t, changed, 200, "")
		saved := decodeJSON[api.IdentitySaved](t, changed)
		if saved.Revision != 3 || saved.Identity.PaymentTimeout != "" || saved.Identity.Effective.PaymentTimeout != "30m0s" ||
			saved.Identity.ReturnWindow != "" || saved.Identity.Effective.ReturnWindow != "168h0m0s" ||
			len(saved.Identity.Bizpacks) != 1 || saved.Identity.Bizpacks[0] != (kernel.BizpackRef{Name: "faulty", Priority: 3}) ||
			*saved.Identity.Products[0].Priority != 15 || changed.header.Get("ETag") != `"3"` {
			t.Fatalf("after the change: %s", changed)
		}

		// The audit log holds both, newest first, with before and after.
		entries := e.auditTrail("identity", "retail.app")
		if len(entries) != 2 {
			t.Fatalf("audit entries %+v", entries)
		}
		for i, want := range []struct {
			verb           string
			before         bool
			afterName      string
			afterRuleTiers string
		}{{"update", true, "App", "gold"}, {"create", false, "App orders", ""}} {
			got := entries[i]
			if got.Verb != want.verb || got.Actor != "root" || got.Action != "identity.write" || got.TargetType != "identity" ||
				got.TargetID != "retail.app" || got.TraceID == "" || got.At.IsZero() {
				t.Errorf("entry %d: %+v", i, got)
			}
			if want.before != (string(got.Before) != "null") {
				t.Errorf("entry %d before: %s", i, got.Before)
			}
			var after auditedIdentity
			if err := json.Unmarshal(got.After, &after); err != nil {
				t.Fatal(err)
			}
			if after.Identity.Name != want.afterName || len(after.Rules) != 1 || after.Rules[0].Buyer["tier"] != want.afterRuleTiers {
				t.Errorf("entry %d after: %s", i, got.After)
			}
		}
		var before auditedIdentity
		if err := json.Unmarshal(entries[0].Before, &before); err != nil || before.Identity.Name != "App orders" ||
			before.Identity.PaymentTimeout != kernel.Duration(20*time.Minute) || before.Rules[0].Channel != "app" {
			t.Errorf("the update's before: %s (%v)", entries[0].Before, err)
		}

		// Stale: someone saved revision 3 since "2" was read.
		stale := e.putIdentity(adminToken, "retail.app", map[string]any{"name": "Lost update"}, `"2"`)
		expect(t, stale, 412, "config_stale")
		if stale.json(t)["currentRevision"] != 3.0 {
			t.Errorf("the 412 does not name revision 3: %s", stale)
		}
		if v, tag := e.identity("retail.app"); v.Name != "App" || tag != `"3"` {
			t.Errorf("a stale change was saved: %s %+v", tag, v)
		}
		if n := len(e.auditTrail("identity", "retail.app")); n != 2 {
			t.Errorf("a stale change was audited: %d entries", n)
		}
		// Another identity changed since revision 3: a change made from 3 still applies.
		expect(t, e.putIdentity(adminToken, "b2b", map[string]any{"products": []map[string]any{{"name": "b2b-distribution"}},
			"paymentTimeout": "3h"}, `"3"`), 200, "")
		r := e.putIdentity(adminToken, "retail.app", map[string]any{"name": "App",
			"products": []map[string]any{{"name": "standard-retail"}}, "rules": []map[string]any{{"channel": "app"}}}, `"3"`)
		expect(t, r, 200, "")
		if rev := decodeJSON[api.IdentitySaved](t, r).Revision; rev != 5 {
			t.Errorf("saved as revision %d; want 5", rev)
		}
		// And revision 3 is now older than a change of retail.app.
		expect(t, e.putIdentity(adminToken, "retail.app", map[string]any{"name": "Lost update"}, `"3"`), 412, "config_stale")

		// The weak form of the ETag is the same revision; * and no If-Match
		// are last writer wins.
		for i, im := range []string{`W/"5"`, `*`, ``} {
			r := e.putIdentity(adminToken, "retail.app", map[string]any{"name": fmt.Sprint("App ", i),
				"products": []map[string]any{{"name": "standard-retail"}}}, im)
			expect(t, r, 200, "")
			if got := decodeJSON[api.IdentitySaved](t, r).Revision; got != int64(6+i) {
				t.Errorf("If-Match %q: revision %d", im, got)
			}
		}
		for _, im := range []string{`"abc"`, `"0"`, `"-3"`} {
			r := e.putIdentity(adminToken, "retail.app", map[string]any{"name": "x"}, im)
			expect(t, r, 400, "invalid_request")
			if r.json(t)["header"] != "If-Match" {
				t.Errorf("If-Match %s: %s", im, r)
			}
		}
		if l := e.identities(adminToken); l.Revision != 8 {
			t.Errorf("revision %d after three more changes", l.Revision)
		}
	})
}

// Changes made from one revision, at once: of those to one identity
// exactly one is saved and the others are 412, whatever the timing; those
// to other identities are all saved, each as its own revision.
func TestIdentityPutRace(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	const n = 8
	race := func(code func(i int) string) []int {
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				r := e.putIdentity(adminToken, code(i), map[string]any{"name": fmt.Sprint("writer ", i),
					"products": []map[string]any{{"name": "standard-retail"}}}, `"1"`)
				statuses[i] = r.status
			})
		}
		wg.Wait()
		slices.Sort(statuses)
		return statuses
	}
	if got, want := race(func(int) string { return "retail" }), append([]int{200}, slices.Repeat([]int{412}, n-1)...); !slices.Equal(got, want) {
		t.Fatalf("one identity: statuses %v; want one 200 and %d 412", got, n-1)
	}
	if l := e.identities(adminToken); l.Revision != 2 {
		t.Fatalf("revision %d after one change", l.Revision)
	}
	if got := e.auditTrail("identity", "retail"); len(got) != 1 {
		t.Fatalf("%d audit entries for one change", len(got))
	}
	// Revision 1 is no longer in force, but these identities are as they were in it.
	if got, want := race(func(i int) string { return fmt.Sprintf("shop%d", i) }), slices.Repeat([]int{201}, n); !slices.Equal(got, want) {
		t.Fatalf("other identities: statuses %v; want %v", got, want)
	}
	if l := e.identities(adminToken); l.Revision != 2+n || len(l.Items) != 6+n {
		t.Fatalf("revision %d with %d identities", l.Revision, len(l.Items))
	}
}

// Two products at one priority clash on delivery.freight, payment.methods
// and the lifecycle: the preview names every problem with both sides, the
// PUT is 422 with the same problems and saves nothing at all, and a higher
// priority for one of them resolves all three.
func TestIdentityConflict(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		clash := map[string]any{"name": "Retail and top-ups", "products": []map[string]any{{"name": "standard-retail"}, {"name": "virtual-goods"}},
			"rules": []map[string]any{{}}}
		fixed := map[string]any{"name": "Retail and top-ups", "products": []map[string]any{{"name": "standard-retail"},
			{"name": "virtual-goods", "priority": 20}}, "rules": []map[string]any{{}}}
		// wantProblems are the clashes, by point ("" for the lifecycle).
		wantProblems := func(t *testing.T, problems []kernel.Problem) {
			t.Helper()
			var points []string
			for _, p := range problems {
				points = append(points, p.Point)
				if p.Identity != "retail" || p.Kind != "conflict" || !strings.Contains(p.Message, "standard-retail") ||
					!strings.Contains(p.Message, "virtual-goods") {
					t.Errorf("problem %+v does not name both products", p)
				}
			}
			if slices.Sort(points); !slices.Equal(points, []string{"", "delivery.freight", "payment.methods"}) {
				t.Errorf("problems at %q; want the lifecycle, delivery.freight and payment.methods: %+v", points, problems)
			}
		}
		before, tag := e.identity("retail")

		r := e.do("POST", "/v1/admin/identities/retail/preview", adminToken, clash)
		expect(t, r, 200, "")
		preview := decodeJSON[api.IdentityPreview](t, r)
		if preview.Valid || preview.Plan != nil || preview.Lifecycle != nil {
			t.Fatalf("preview of a clash: %s", r)
		}
		wantProblems(t, preview.Problems)

		r = e.putIdentity(adminToken, "retail", clash, tag)
		expect(t, r, 422, "config_invalid")
		var refused struct{ Problems []kernel.Problem }
		if err := json.Unmarshal(r.raw, &refused); err != nil {
			t.Fatal(err)
		}
		wantProblems(t, refused.Problems)
		// Nothing saved: the identity, the revision and the audit log are as they were.
		after, tagAfter := e.identity("retail")
		if tagAfter != tag || !slicesEqualJSON(t, after, before) {
			t.Fatalf("a refused change was saved: %s %+v", tagAfter, after)
		}
		if l := e.identities(adminToken); l.Revision != 1 {
			t.Fatalf("revision %d after a refused change", l.Revision)
		}
		if got := e.auditTrail("identity", ""); len(got) != 0 {
			t.Fatalf("a refused change was audited: %+v", got)
		}
		// A new identity with the clash is not created either.
		expect(t, e.putIdentity(adminToken, "shop", clash, ""), 422, "config_invalid")
		expect(t, e.do("GET", "/v1/admin/identities/shop", adminToken, nil), 404, "identity_not_found")

		// virtual-goods first: valid, and its implementations come first.
		r = e.do("POST", "/v1/admin/identities/retail/preview", adminToken, fixed)
		expect(t, r, 200, "")
		preview = decodeJSON[api.IdentityPreview](t, r)
		if !preview.Valid || len(preview.Problems) != 0 || preview.Plan == nil || preview.Lifecycle == nil || preview.Plan.Revision != 2 {
			t.Fatalf("preview of the fix: %s", r)
		}
		freight := plannedImpls(t, preview.Plan.Points, "delivery.freight")
		if want := []string{"virtual-goods.no-freight", "standard-retail.freight", "delivery.free"}; !slices.Equal(freight, want) {
			t.Errorf("delivery.freight runs %v; want %v", freight, want)
		}
		if l := e.identities(adminToken); l.Revision != 1 {
			t.Fatalf("a preview saved revision %d", l.Revision)
		}
		r = e.putIdentity(adminToken, "retail", fixed, tag)
		expect(t, r, 200, "")
		if v := decodeJSON[api.IdentitySaved](t, r); v.Revision != 2 || !slices.Equal(slices.Sorted(slices.Values(v.Identity.Effective.Products)),
			[]string{"standard-retail", "virtual-goods"}) {
			t.Fatalf("the fix: %s", r)
		}
		if got := e.auditTrail("identity", "retail"); len(got) != 1 || got[0].Verb != "update" {
			t.Fatalf("the fix's audit: %+v", got)
		}
	})
}

// slicesEqualJSON reports whether a and b marshal to the same JSON.
func slicesEqualJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

// plannedImpls are the implementations of a point of a plan, in order.
func plannedImpls(t *testing.T, points []kernel.PlannedPoint, point string) []string {
	t.Helper()
	for _, p := range points {
		if p.Point == point {
			var out []string
			for _, i := range p.Impls {
				out = append(out, i.Impl)
			}
			return out
		}
	}
	t.Fatalf("no point %s in the plan", point)
	return nil
}

// Malformed bodies are refused before anything is compiled, by PUT and
// preview alike, naming the field; nothing is saved.
func TestIdentityBadBodies(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	retail := `{"products":[{"name":"standard-retail"}],`
	tests := []struct {
		name, code, body string
		headers          []string
		status           int
		problem          string
		field            string
	}{
		{"unknown field", "retail", retail + `"colour":"red"}`, nil, 400, "unknown_field", "colour"},
		{"unknown nested field", "retail", `{"products":[{"name":"standard-retail","weight":3}]}`, nil, 400, "unknown_field", "products[0].weight"},
		{"timeout not a duration", "retail", retail + `"paymentTimeout":"soon"}`, nil, 400, "invalid_identity", "paymentTimeout"},
		{"negative timeout", "retail", retail + `"paymentTimeout":"-5m"}`, nil, 400, "invalid_identity", "paymentTimeout"},
		{"timeout as a number", "retail", retail + `"paymentTimeout":900}`, nil, 400, "invalid_type", "paymentTimeout"},
		{"return window not a duration", "retail", retail + `"returnWindow":"a week"}`, nil, 400, "invalid_identity", "returnWindow"},
		{"return window of zero", "retail", retail + `"returnWindow":"0s"}`, nil, 400, "invalid_identity", "returnWindow"},
		{"not a code", "Retail!", retail + `"name":"x"}`, nil, 400, "invalid_identity", "code"},
		{"empty segment", "retail..vip", retail + `"name":"x"}`, nil, 400, "invalid_identity", "code"},
		{"product without a name", "retail", `{"products":[{"priority":3}]}`, nil, 400, "invalid_identity", "products[0].name"},
		{"bizpack without a name", "retail", retail + `"bizpacks":[{"priority":3}]}`, nil, 400, "invalid_identity", "bizpacks[0].name"},
		{"name too long", "retail", retail + `"name":"` + strings.Repeat("n", 201) + `"}`, nil, 400, "invalid_identity", "name"},
		{"malformed", "retail", `{"products":`, nil, 400, "malformed_json", ""},
		{"empty", "retail", ``, nil, 400, "malformed_json", ""},
		{"too large", "retail", retail + `"name":"` + strings.Repeat("n", 2<<20) + `"}`, nil, 413, "body_too_large", ""},
		{"not JSON", "retail", `name=x`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		// Well formed, but the configuration does not compile.
		{"unknown product", "retail", `{"products":[{"name":"no-such-product"}]}`, nil, 422, "config_invalid", ""},
		{"unknown bizpack", "retail", retail + `"bizpacks":[{"name":"no-such-pack"}]}`, nil, 422, "config_invalid", ""},
		{"bad freight template", "retail", `{"products":[{"name":"standard-retail","args":{"delivery.freight":{"basis":"colour"}}}]}`, nil, 422, "config_invalid", ""},
	}
	before, tag := e.identity("retail")
	for _, tc := range tests {
		for _, method := range []string{"PUT", "POST"} {
			path := "/v1/admin/identities/" + tc.code
			if method == "POST" {
				path += "/preview"
			}
			t.Run(method+" "+tc.name, func(t *testing.T) {
				var body any
				if tc.body != "" {
					body = tc.body
				}
				headers := tc.headers
				if method == "PUT" && !slices.Contains(headers, "If-Match") {
					headers = append([]string{"If-Match", "*"}, headers...)
				}
				r := e.with(t).do(method, path, adminToken, body, headers...)
				if method == "POST" && tc.status == 422 {
					// A preview answers a configuration that does not compile.
					expect(t, r, 200, "")
					if p := decodeJSON[api.IdentityPreview](t, r); p.Valid || len(p.Problems) == 0 {
						t.Fatalf("preview: %s", r)
					}
					return
				}
				expect(t, r, tc.status, tc.problem)
				if tc.field != "" && r.json(t)["field"] != tc.field {
					t.Errorf("field %v; want %s", r.json(t)["field"], tc.field)
				}
			})
		}
	}
	after, tagAfter := e.identity("retail")
	if tagAfter != tag || !slicesEqualJSON(t, after, before) {
		t.Fatalf("refused bodies changed retail: %s %+v", tagAfter, after)
	}
	if got := e.auditTrail("identity", ""); len(got) != 0 {
		t.Fatalf("refused bodies were audited: %+v", got)
	}
	for _, code := range []string{"Retail!", "retail..vip"} {
		expect(t, e.do("GET", "/v1/admin/identities/"+code, adminToken, nil), 404, "identity_not_found")
	}
}

// The plan lists every point with its implementations in precedence
// order, each with its layer, source and the identity it comes from: the
// identity itself, an ancestor, or "" for a platform default.
func TestIdentityPlan(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	tests := []struct {
		code  string
		point string
		want  []kernel.PlannedImpl
	}{
		{"faulty", "order.validate", []kernel.PlannedImpl{
			{Impl: "faulty.validate", Layer: "bizpack", Source: "faulty", Version: "1", Priority: 0, Origin: "faulty"},
			{Impl: "virtual-goods.virtual-only", Layer: "product", Source: "virtual-goods", Version: "1", Priority: 10, Origin: "faulty"},
			{Impl: "order.basic", Layer: "default", Source: "platform", Version: "1", Priority: 0, Origin: ""},
		}},
		// retail.vip binds nothing itself: its parent's product comes with retail as its origin.
		{"retail.vip", "payment.methods", []kernel.PlannedImpl{
			{Impl: "standard-retail.methods", Layer: "product", Source: "standard-retail", Version: "1", Priority: 10, Origin: "retail"},
			{Impl: "payment.card", Layer: "default", Source: "platform", Version: "1", Priority: 0, Origin: ""},
		}},
		{"b2b", "order.guard", []kernel.PlannedImpl{
			{Impl: "b2b-distribution.review", Layer: "product", Source: "b2b-distribution", Version: "1", Priority: 10, Origin: "b2b"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			r := e.with(t).do("GET", "/v1/admin/identities/"+tc.code+"/plan", adminToken, nil)
			expect(t, r, 200, "")
			plan := decodeJSON[api.PlanView](t, r)
			if plan.Identity != tc.code || plan.Revision != 1 {
				t.Errorf("plan of %s at revision %d", plan.Identity, plan.Revision)
			}
			var names []string
			for _, p := range plan.Points {
				names = append(names, p.Point)
				if p.Impls == nil {
					t.Errorf("point %s: impls null", p.Point)
				}
			}
			var catalogue []string
			for _, p := range e.k.Catalogue().Points() {
				catalogue = append(catalogue, p.Name)
			}
			if !slices.Equal(names, catalogue) {
				t.Errorf("points %v; want the catalogue %v", names, catalogue)
			}
			i := slices.IndexFunc(plan.Points, func(p kernel.PlannedPoint) bool { return p.Point == tc.point })
			if got := plan.Points[i].Impls; !slices.Equal(got, tc.want) {
				t.Errorf("%s:\n got  %+v\n want %+v", tc.point, got, tc.want)
			}
		})
	}
	expect(t, e.do("GET", "/v1/admin/identities/ghost/plan", adminToken, nil), 404, "identity_not_found")
}

// The lifecycle is the identity's graph: b2b-distribution's has a review
// step and its order.guard; standard-retail's has neither; every
// transition joins states of the graph.
func TestIdentityLifecycle(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	tests := []struct {
		code, name string
		review     bool
		guards     []kernel.PlannedImpl
	}{
		{"b2b", "distribution", true, []kernel.PlannedImpl{{Impl: "b2b-distribution.review", Layer: "product",
			Source: "b2b-distribution", Version: "1", Priority: 10, Origin: "b2b"}}},
		{"retail", "retail", false, []kernel.PlannedImpl{}},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			r := e.with(t).do("GET", "/v1/admin/identities/"+tc.code+"/lifecycle", adminToken, nil)
			expect(t, r, 200, "")
			lc := decodeJSON[api.LifecycleView](t, r)
			if lc.Identity != tc.code || lc.Revision != 1 || lc.Name != tc.name || lc.Initial != "created" {
				t.Errorf("lifecycle %+v", lc)
			}
			states := map[string]bool{}
			for _, s := range lc.States {
				states[s.Name] = true
			}
			if states["pending_review"] != tc.review || !states["completed"] || !states["cancelled"] {
				t.Errorf("states %+v", lc.States)
			}
			approve := false
			for _, tr := range lc.Transitions {
				if !states[tr.From] || !states[tr.To] || tr.Effects == nil {
					t.Errorf("transition %+v leaves the graph", tr)
				}
				if tr.Event == "approve" && tr.From == "pending_review" && tr.To == "pending_outbound" {
					approve = true
				}
				if !strings.Contains(lc.Mermaid, fmt.Sprintf("%s --> %s: %s", tr.From, tr.To, tr.Event)) {
					t.Errorf("mermaid lacks %+v", tr)
				}
			}
			if approve != tc.review {
				t.Errorf("approve from review: %v", approve)
			}
			if !slices.Equal(lc.Guards, tc.guards) {
				t.Errorf("guards %+v; want %+v", lc.Guards, tc.guards)
			}
			if !strings.HasPrefix(lc.Mermaid, "stateDiagram-v2\n") {
				t.Errorf("mermaid %q", lc.Mermaid)
			}
		})
	}
	expect(t, e.do("GET", "/v1/admin/identities/ghost/lifecycle", adminToken, nil), 404, "identity_not_found")
}

// A saved change is in force for the next order: a new identity with a
// channel rule takes the orders of that channel, with its payment timeout;
// disabled, it takes none.
func TestIdentityChangeIsInForceAtOnce(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	e.sku("mug", 1200, "kitchen", false, 20)
	alice := e.principal("alice", "buyer")
	key := 0
	place := func(channel string) reply {
		t.Helper()
		key++
		body := retailBody("mug", 1)
		body["channel"] = channel
		return e.do("POST", "/v1/orders", alice, body, "Idempotency-Key", fmt.Sprint("in-force-", key))
	}
	deadline := func(v order.View) time.Duration { return v.PaymentDeadline.Sub(v.CreatedAt) }

	r := place("app")
	expect(t, r, 201, "")
	if v := decodeView(t, r); v.BizCode != "retail" || deadline(v) != 30*time.Minute {
		t.Fatalf("before the change: %s, deadline after %v", v.BizCode, deadline(v))
	}
	expect(t, e.putIdentity(adminToken, "retail.app", map[string]any{"products": []map[string]any{{"name": "standard-retail"}},
		"paymentTimeout": "20m", "rules": []map[string]any{{"channel": "app"}}}, ""), 201, "")
	r = place("app")
	expect(t, r, 201, "")
	if v := decodeView(t, r); v.BizCode != "retail.app" || deadline(v) != 20*time.Minute {
		t.Fatalf("after the change: %s, deadline after %v", v.BizCode, deadline(v))
	}
	r = place("web")
	expect(t, r, 201, "")
	if v := decodeView(t, r); v.BizCode != "retail" {
		t.Fatalf("another channel: %s", v.BizCode)
	}
	taken := decodeView(t, place("app"))
	paid := decodeView(t, place("app"))
	expect(t, e.pay(alice, paid.ID, "pay-before-disable", "4242424242424242"), 200, "")
	// Disabled: its new orders are refused, not sent elsewhere; the orders it
	// has taken still move to an end (paid, cancelled, shipped).
	expect(t, e.putIdentity(adminToken, "retail.app", map[string]any{"disabled": true, "products": []map[string]any{{"name": "standard-retail"}},
		"rules": []map[string]any{{"channel": "app"}}}, ""), 200, "")
	r = place("app")
	expect(t, r, 422, "identity_disabled")
	expect(t, e.pay(alice, taken.ID, "pay-after-disable", "4242424242424242"), 200, "")
	if v := e.fire(adminToken, taken.ID, "ship", nil); v.Status != "pending_inbound" {
		t.Fatalf("shipping an order of a disabled identity: %s", v.Status)
	}
	if v := e.fire(alice, paid.ID, "cancel", nil); v.Status != "cancelled" {
		t.Fatalf("cancelling an order of a disabled identity: %s", v.Status)
	}
}

// An operator reads and changes only the identities granted to it; one it
// is not granted reads exactly as a missing one on every route that names
// it, and is left out of the list. Creating a code needs it granted.
// Buyers and agents are refused the list and know of no identity.
func TestIdentityGrants(t *testing.T) {
	identityGrants(t, newEnv(t, storetest.Open(t, "sqlite")))
}

func identityGrants(t *testing.T, e *env) {
	opsRetail := newPrincipalAt(e, "ops-retail", "", []string{"retail"}, "operator")
	opsAll := e.principal("ops-all", "operator")
	alice := e.principal("alice", "buyer")
	agent := e.principal("agent-7", "agent")
	body := map[string]any{"products": []map[string]any{{"name": "standard-retail"}}}

	if got := identityCodes(e.identities(opsRetail)); !slices.Equal(got, []string{"retail"}) {
		t.Errorf("ops-retail lists %v; want [retail]", got)
	}
	if got := identityCodes(e.identities(opsAll)); len(got) != 6 {
		t.Errorf("ops-all lists %v", got)
	}
	for _, tok := range []string{alice, agent} {
		r := e.do("GET", "/v1/admin/identities", tok, nil)
		expect(t, r, 403, "forbidden")
		if r.json(t)["action"] != "identity.list" {
			t.Errorf("the 403 names %v", r.json(t)["action"])
		}
	}

	// Foreign identities read as missing ones.
	routes := []struct{ method, suffix string }{{"GET", ""}, {"GET", "/plan"}, {"GET", "/lifecycle"}, {"PUT", ""}, {"POST", "/preview"}}
	callers := []struct {
		name, token, code string
	}{{"ops-retail on b2b", opsRetail, "b2b"}, {"ops-retail on retail.vip", opsRetail, "retail.vip"},
		{"buyer on retail", alice, "retail"}, {"agent on retail", agent, "retail"}}
	for _, c := range callers {
		for _, rt := range routes {
			t.Run(c.name+" "+rt.method+rt.suffix, func(t *testing.T) {
				e := e.with(t)
				var b any
				if rt.method != "GET" {
					b = body
				}
				// A missing identity, to compare with: PUT would create it.
				missingPath := "/v1/admin/identities/ghost"
				if rt.method == "GET" {
					missingPath += rt.suffix
				}
				missing := e.do("GET", missingPath, adminToken, nil)
				r := e.do(rt.method, "/v1/admin/identities/"+c.code+rt.suffix, c.token, b)
				expect(t, r, 404, "identity_not_found")
				if problemShape(t, r) != problemShape(t, missing) {
					t.Errorf("a foreign identity reads differently from a missing one:\n%s\n%s", r, missing)
				}
			})
		}
	}

	// Its own identity: read, previewed and changed.
	for _, suffix := range []string{"", "/plan", "/lifecycle"} {
		expect(t, e.do("GET", "/v1/admin/identities/retail"+suffix, opsRetail, nil), 200, "")
	}
	expect(t, e.do("POST", "/v1/admin/identities/retail/preview", opsRetail, body), 200, "")
	_, tag := e.identity("retail")
	r := e.putIdentity(opsRetail, "retail", map[string]any{"name": "Retail", "products": []map[string]any{{"name": "standard-retail"}},
		"rules": []map[string]any{{}}}, tag)
	expect(t, r, 200, "")
	if got := e.auditTrail("identity", "retail"); len(got) != 1 || got[0].Actor != "ops-retail" {
		t.Errorf("the operator's change audited as %+v", got)
	}

	// Creating: a code not granted is refused, whoever else may create.
	for _, c := range []struct{ name, token string }{{"ops-retail", opsRetail}, {"buyer", alice}, {"agent", agent}} {
		for _, path := range []string{"/v1/admin/identities/retail.new", "/v1/admin/identities/retail.new/preview"} {
			method := "PUT"
			if strings.HasSuffix(path, "/preview") {
				method = "POST"
			}
			r := e.do(method, path, c.token, body)
			expect(t, r, 403, "forbidden")
			if a := r.json(t)["action"]; a != "identity.write" && a != "identity.create" {
				t.Errorf("%s %s %s: the 403 names %v", c.name, method, path, a)
			}
		}
	}
	expect(t, e.do("GET", "/v1/admin/identities/retail.new", adminToken, nil), 404, "identity_not_found")
	expect(t, e.putIdentity(opsAll, "retail.new", body, ""), 201, "")
	if got := identityCodes(e.identities(opsRetail)); !slices.Equal(got, []string{"retail"}) {
		t.Errorf("ops-retail lists %v after another's creation", got)
	}
	if l := e.identities(adminToken); l.Revision != 3 {
		t.Errorf("revision %d: refused requests saved something", l.Revision)
	}
}

// An identity's audit is readable by whoever may read the identity: the
// operator granted it sees who changed it, another operator nothing.
func TestIdentityAuditForItsOperators(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	opsRetail := newPrincipalAt(e, "ops-retail", "", []string{"retail"}, "operator")
	opsB2B := newPrincipalAt(e, "ops-b2b", "", []string{"b2b"}, "operator")
	expect(t, e.putIdentity(opsRetail, "retail", map[string]any{"name": "Retail, renamed",
		"products": []map[string]any{{"name": "standard-retail"}}, "rules": []map[string]any{{}}}, ""), 200, "")
	list := decodeJSON[api.AuditList](t, e.do("GET", "/v1/admin/identities/retail/audit", opsRetail, nil))
	if len(list.Items) != 1 || list.Items[0].Actor != "ops-retail" || list.Items[0].TargetID != "retail" {
		t.Fatalf("retail's audit for its operator: %+v", list.Items)
	}
	expect(t, e.do("GET", "/v1/admin/identities/retail/audit", opsB2B, nil), 404, "identity_not_found")
	expect(t, e.do("GET", "/v1/admin/audit", opsRetail, nil), 403, "forbidden")
}

// Payment states belong to the platform: a lifecycle patch with an event
// other than pay into a paid state is refused when it compiles. A change
// that takes effect on identities below the one written needs the right to
// change them; one that does not (a name) does not.
func TestIdentityChangeLimits(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	opsRetail := newPrincipalAt(e, "ops-retail", "", []string{"retail"}, "operator")
	opsBoth := newPrincipalAt(e, "ops-both", "", []string{"retail", "retail.vip"}, "operator")
	retail := func(extra map[string]any) map[string]any {
		b := map[string]any{"products": []map[string]any{{"name": "standard-retail"}}, "rules": []map[string]any{{}}}
		maps.Copy(b, extra)
		return b
	}

	forcePay := retail(map[string]any{"lifecyclePatch": map[string]any{"addEvents": []map[string]any{
		{"name": "force_pay", "from": []string{"pending_payment"}, "to": "pending_outbound"}}}})
	for _, tok := range []string{adminToken, opsBoth} {
		_, tag := e.identity("retail")
		r := e.putIdentity(tok, "retail", forcePay, tag)
		expect(t, r, 422, "config_invalid")
		if !strings.Contains(string(r.raw), `event \"force_pay\" moves an unpaid order into paid state \"pending_outbound\"`) {
			t.Fatalf("the refusal does not say why: %s", r)
		}
	}

	_, tag := e.identity("retail")
	r := e.putIdentity(opsRetail, "retail", retail(map[string]any{"paymentTimeout": "1m"}), tag)
	expect(t, r, 403, "forbidden")
	if strings.Contains(string(r.raw), "retail.vip") {
		t.Errorf("the refusal names an identity the operator may not read: %s", r)
	}
	expect(t, e.putIdentity(opsRetail, "retail", retail(map[string]any{"name": "Retail shop"}), tag), 200, "")
	_, tag = e.identity("retail")
	expect(t, e.putIdentity(opsBoth, "retail", retail(map[string]any{"paymentTimeout": "1m"}), tag), 200, "")
}

// Rules that would take another identity's requests need the right to
// change that identity; the preview shows whose traffic a rule takes.
func TestIdentityRulesTakeTraffic(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	opsB2B := newPrincipalAt(e, "ops-b2b", "", []string{"b2b"}, "operator")
	opsAll := e.principal("ops-all", "operator")
	e.sku("tv", 9900, "tv", false, 10)
	r := e.do("POST", "/v1/admin/principals", adminToken, api.PrincipalRequest{ID: "vip", Roles: []string{"buyer"},
		Attrs: map[string]string{"tier": "vip"}})
	expect(t, r, 201, "")
	vip, _ := r.json(t)["token"].(string)

	capture := map[string]any{"products": []map[string]any{{"name": "b2b-distribution"}},
		"rules": []map[string]any{{"buyer": map[string]string{"tier": "vip"}, "category": "tv"}}}
	r = e.do("POST", "/v1/admin/identities/b2b/preview", opsB2B, capture)
	expect(t, r, 200, "")
	if got := decodeJSON[api.IdentityPreview](t, r).TakesTrafficFrom; len(got) != 0 {
		t.Errorf("the preview names identities the operator may not read: %v", got)
	}
	r = e.do("POST", "/v1/admin/identities/b2b/preview", adminToken, capture)
	if got := decodeJSON[api.IdentityPreview](t, r).TakesTrafficFrom; !slices.Equal(got, []string{"retail", "retail.vip"}) {
		t.Errorf("the preview shows the rule takes traffic from %v; want [retail retail.vip]", got)
	}
	_, tag := e.identity("b2b")
	expect(t, e.putIdentity(opsB2B, "b2b", capture, tag), 403, "forbidden")
	r = e.do("POST", "/v1/orders", vip, `{"items":[{"sku":"tv","quantity":1}],"shippingAddress":{"region":"CN-31","line1":"1 Road"}}`, "Idempotency-Key", "vip-1")
	expect(t, r, 201, "")
	if r.json(t)["bizCode"] != "retail.vip" {
		t.Fatalf("the VIP's order went to %v", r.json(t)["bizCode"])
	}
	// Any new rule takes from the catch-all retail; no new rule takes
	// from no one; an operator of every identity may.
	expect(t, e.putIdentity(opsB2B, "b2b", map[string]any{"products": []map[string]any{{"name": "b2b-distribution"}},
		"rules": []map[string]any{{"channel": "b2b", "category": "tv"}}}, tag), 403, "forbidden")
	expect(t, e.putIdentity(opsB2B, "b2b", map[string]any{"name": "B2B", "products": []map[string]any{{"name": "b2b-distribution"}}}, tag), 200, "")
	_, tag = e.identity("b2b")
	expect(t, e.putIdentity(opsAll, "b2b", capture, tag), 200, "")
}

// Purchase limits go through the admin identity API: a PUT sets them, a
// GET shows them, a PUT without them removes them (the whole identity is
// replaced), and a limit that does not compile is refused whole.
func TestIdentityPurchaseLimits(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		limit := map[string]any{"name": "one-each", "scope": "sku", "window": "lifetime", "max": 1}
		body := map[string]any{"name": "App orders", "products": []map[string]any{{"name": "standard-retail"}},
			"purchaseLimits": []map[string]any{limit}}
		expect(t, e.putIdentity(adminToken, "retail.app", body, ""), 201, "")
		v, _ := e.identity("retail.app")
		if len(v.PurchaseLimits) != 1 || v.PurchaseLimits[0].Name != "one-each" || v.PurchaseLimits[0].Max != 1 ||
			v.PurchaseLimits[0].Window != "lifetime" {
			t.Fatalf("limits read back: %+v", v.PurchaseLimits)
		}

		bad := map[string]any{"name": "App orders", "products": []map[string]any{{"name": "standard-retail"}},
			"purchaseLimits": []map[string]any{{"name": "Bad Name", "scope": "sku", "window": "fortnight", "max": 0}}}
		r := e.putIdentity(adminToken, "retail.app", bad, "")
		expect(t, r, 422, "config_invalid")
		if v, _ := e.identity("retail.app"); len(v.PurchaseLimits) != 1 {
			t.Fatalf("a refused change altered the limits: %+v", v.PurchaseLimits)
		}

		delete(body, "purchaseLimits")
		expect(t, e.putIdentity(adminToken, "retail.app", body, ""), 200, "")
		if v, _ := e.identity("retail.app"); len(v.PurchaseLimits) != 0 {
			t.Fatalf("limits left after a PUT without them: %+v", v.PurchaseLimits)
		}
	})
}
