package api_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/paths"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/reconcile"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

const specPath = "../../docs/openapi.yaml"

// spec is docs/openapi.yaml, parsed once, with its validator.
type spec struct {
	model     *v3.Document
	validator validator.Validator
	options   *config.ValidationOptions
	mu        sync.Mutex // the validator's caches are not documented as safe for concurrent use
}

var loadSpec = sync.OnceValues(func() (*spec, error) {
	raw, err := os.ReadFile(specPath)
	if err != nil {
		return nil, err
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		return nil, err
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		return nil, err
	}
	opts := []config.Option{config.WithFormatAssertions()}
	v, errs := validator.NewValidator(doc, opts...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		var msgs []string
		for _, e := range verrs {
			msgs = append(msgs, e.Message+": "+e.Reason)
		}
		return nil, fmt.Errorf("docs/openapi.yaml is not a valid OpenAPI 3.1 document:\n%s", strings.Join(msgs, "\n"))
	}
	return &spec{model: &model.Model, validator: v, options: config.NewValidationOptions(opts...)}, nil
})

// coverage records which operation answered which status.
type coverage struct {
	mu   sync.Mutex
	seen map[string]map[int]bool // "GET /v1/orders/{id}" → statuses
}

func (c *coverage) add(op string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]map[int]bool{}
	}
	if c.seen[op] == nil {
		c.seen[op] = map[int]bool{}
	}
	c.seen[op][status] = true
}

// conform fails the test unless the answer is one the spec describes for
// the request: its status, its content type, its headers and its body's
// schema. A path the spec does not know must be answered with a problem.
func (e *env) conform(r reply) {
	e.t.Helper()
	s, err := loadSpec()
	if err != nil {
		e.t.Errorf("spec: %v", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	item, _, template := paths.FindPath(r.req, s.model, s.options)
	if item == nil || item.GetOperations().GetOrZero(strings.ToLower(r.req.Method)) == nil {
		// Not an operation of the spec: echo's own 404 and 405 must still be problems.
		if r.status != 404 && r.status != 405 || r.header.Get("Content-Type") != api.ProblemContentType {
			e.t.Errorf("%s %s is not in the spec and was answered %s", r.req.Method, r.req.URL.Path, r)
		}
		return
	}
	e.seen.add(r.req.Method+" "+template, r.status)
	resp := &http.Response{StatusCode: r.status, Header: r.header, Body: io.NopCloser(bytes.NewReader(r.raw)), Request: r.req}
	if ok, errs := s.validator.ValidateHttpResponse(r.req, resp); !ok {
		var msgs []string
		for _, ve := range errs {
			msg := ve.Message + ": " + ve.Reason
			for _, se := range ve.SchemaValidationErrors {
				msg += "\n    " + se.FieldPath + ": " + se.Reason
			}
			msgs = append(msgs, msg)
		}
		e.t.Errorf("%s %s answered %s\nwhich docs/openapi.yaml does not describe:\n  %s", r.req.Method, r.req.URL, r,
			strings.Join(msgs, "\n  "))
	}
}

// The Problem schema's code enum is the API's table of codes.
func TestSpecListsEveryProblemCode(t *testing.T) {
	s, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	problem := s.model.Components.Schemas.GetOrZero("Problem").Schema()
	var enum []string
	for _, n := range problem.Properties.GetOrZero("code").Schema().Enum {
		enum = append(enum, n.Value)
	}
	if want := api.Codes(); !slices.Equal(enum, want) {
		t.Fatalf("Problem.code enum in docs/openapi.yaml:\n%v\nthe API's codes:\n%v", enum, want)
	}
}

// Every operation of the spec, through every status it documents (but
// 500, which a healthy server does not give, and the statuses in raceOnly),
// answered live and validated against the spec by env.conform.
func TestLiveAnswersMatchTheSpec(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		var rec *reconcile.Runner
		e := newEnv(t, st, withBizpacks(newFakeBizpacks()), withUploads(t.TempDir(), 1<<20), withReconciler(t, st, &rec))
		e.sku("mug", 1200, "kitchen", false, 3)
		e.sku("topup-50", 4980, "topup", true, 100)
		e.sku("excl", 500, "kitchen", false, 10)
		alice, bob, ops := e.principal("alice", "buyer"), e.principal("bob", "buyer"), e.principal("ops", "operator")
		agent, broke := e.principal("agent-x", "agent"), e.principal("agent-broke", "agent")
		// A principal with no role the API knows: 403 on every order endpoint.
		if err := st.CreatePrincipal(t.Context(), store.Principal{ID: "auditor", Roles: "auditor", TokenHash: api.TokenHash("auditor-token")}); err != nil {
			t.Fatal(err)
		}
		auditor := "auditor-token"
		big := `{"title":"` + strings.Repeat("x", 2<<20) + `"}`
		key := 0
		idem := func() []string { key++; return []string{"Idempotency-Key", "spec-" + strconv.Itoa(key)} }
		type call struct {
			method, path, token, body string
			headers                   []string
			status                    int
		}
		runOn := func(e *env, calls ...call) {
			t.Helper()
			for _, c := range calls {
				expect(t, e.do(c.method, c.path, c.token, c.body, c.headers...), c.status, "")
			}
		}
		run := func(calls ...call) { t.Helper(); runOn(e, calls...) }
		place := func(token, body string) string {
			t.Helper()
			r := e.do("POST", "/v1/orders", token, body, idem()...)
			expect(t, r, 201, "")
			return decodeView(t, r).ID
		}
		xml := []string{"Content-Type", "application/xml"}
		text := []string{"Content-Type", "text/plain"}

		run(
			call{"GET", "/healthz", "", "", nil, 200},
			call{"GET", "/readyz", "", "", nil, 200},
			call{"GET", "/metrics", "", "", nil, 200},

			call{"PUT", "/v1/skus/cap", adminToken, `{"title":"Cap","price":900,"currency":"CNY","category":"hats","weightGrams":80}`, nil, 200},
			call{"PUT", "/v1/skus/cap", adminToken, `{"title":"Cap","price":-1,"currency":"CNY"}`, nil, 400},
			call{"PUT", "/v1/skus/cap", adminToken, `{"title":"Cap","price":1,"currency":"cny"}`, nil, 400},
			call{"PUT", "/v1/skus/a%20b", adminToken, `{"title":"Cap","price":1,"currency":"CNY"}`, nil, 400},
			call{"PUT", "/v1/skus/cap", "", `{}`, nil, 401},
			call{"PUT", "/v1/skus/cap", alice, `{"title":"Cap","price":1,"currency":"CNY"}`, nil, 403},
			call{"PUT", "/v1/skus/cap", adminToken, big, nil, 413},
			call{"PUT", "/v1/skus/cap", adminToken, `title=Cap`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
			call{"GET", "/v1/skus/cap", alice, "", nil, 200},
			call{"GET", "/v1/skus/no-such", alice, "", nil, 404},
			call{"GET", "/v1/skus/a%20b", alice, "", nil, 400},
			call{"GET", "/v1/skus/cap", "", "", nil, 401},
			call{"GET", "/v1/skus/cap", auditor, "", nil, 403},

			call{"PUT", "/v1/stock/cap", adminToken, `{"location":"wh-1","sellable":7,"reason":"delivery"}`, nil, 200},
			call{"PUT", "/v1/stock/cap", adminToken, `{"sellable":-7}`, nil, 400},
			call{"PUT", "/v1/stock/cap", adminToken, `{"channel":"tmall","sellable":7}`, nil, 400},
			call{"PUT", "/v1/stock/cap", "", `{"sellable":7}`, nil, 401},
			call{"PUT", "/v1/stock/cap", ops, `{"sellable":7}`, nil, 403},
			call{"PUT", "/v1/stock/no-such", adminToken, `{"sellable":7}`, nil, 404},
			call{"PUT", "/v1/stock/cap", adminToken, big, nil, 413},
			call{"PUT", "/v1/stock/cap", adminToken, `<stock/>`, xml, 415},
			call{"GET", "/v1/stock/cap", bob, "", nil, 200},
			call{"GET", "/v1/stock/no-such", bob, "", nil, 404},
			call{"GET", "/v1/stock/a%20b", bob, "", nil, 400},
			call{"GET", "/v1/stock/cap", "", "", nil, 401},
			call{"GET", "/v1/stock/cap", auditor, "", nil, 403},

			// Channel settings, buckets, locations, audit.
			call{"PUT", "/v1/stock/cap/channels/tmall", adminToken, `{"location":"wh-1","mode":"mutex","quantity":2}`, nil, 200},
			call{"PUT", "/v1/stock/cap/channels/tmall", adminToken, `{"location":"wh-1","mode":"bogus","quantity":2}`, nil, 400},
			call{"PUT", "/v1/stock/cap/channels/tmall", "", `{"mode":"shared","quantity":2}`, nil, 401},
			call{"PUT", "/v1/stock/cap/channels/tmall", alice, `{"mode":"shared","quantity":2}`, nil, 403},
			call{"PUT", "/v1/stock/no-such/channels/tmall", adminToken, `{"mode":"shared","quantity":2}`, nil, 404},
			call{"PUT", "/v1/stock/cap/channels/app", adminToken, `{"location":"wh-1","mode":"exclusive"}`, nil, 409},
			call{"PUT", "/v1/stock/cap/channels/tmall", adminToken, big, nil, 413},
			call{"PUT", "/v1/stock/cap/channels/tmall", adminToken, `<mode/>`, xml, 415},
			call{"DELETE", "/v1/stock/cap/channels/tmall?location=wh-1&mode=mutex", adminToken, "", nil, 200},
			call{"DELETE", "/v1/stock/cap/channels/tmall?mode=bogus", adminToken, "", nil, 400},
			call{"DELETE", "/v1/stock/cap/channels/tmall?mode=mutex", "", "", nil, 401},
			call{"DELETE", "/v1/stock/cap/channels/tmall?mode=mutex", ops, "", nil, 403},
			call{"DELETE", "/v1/stock/no-such/channels/tmall?mode=mutex", adminToken, "", nil, 404},

			call{"PUT", "/v1/stock/excl/channels/app", adminToken, `{"mode":"exclusive"}`, nil, 200},
			call{"PUT", "/v1/stock/cap/buckets", adminToken, `{"location":"wh-1","buckets":4}`, nil, 200},
			call{"PUT", "/v1/stock/cap/buckets", adminToken, `{"buckets":-1}`, nil, 400},
			call{"PUT", "/v1/stock/cap/buckets", "", `{"buckets":4}`, nil, 401},
			call{"PUT", "/v1/stock/cap/buckets", alice, `{"buckets":4}`, nil, 403},
			call{"PUT", "/v1/stock/no-such/buckets", adminToken, `{"buckets":4}`, nil, 404},
			call{"PUT", "/v1/stock/excl/buckets", adminToken, `{"buckets":4}`, nil, 409},
			call{"PUT", "/v1/stock/cap/buckets", adminToken, big, nil, 413},
			call{"PUT", "/v1/stock/cap/buckets", adminToken, `buckets=4`, text, 415},

			call{"PUT", "/v1/locations/wh-1", adminToken, `{"regions":["CN-31","CN-32"],"priority":5}`, nil, 200},
			call{"PUT", "/v1/locations/wh-1", adminToken, `{"priority":"high"}`, nil, 400},
			call{"PUT", "/v1/locations/wh-1", "", `{}`, nil, 401},
			call{"PUT", "/v1/locations/wh-1", ops, `{}`, nil, 403},
			call{"PUT", "/v1/locations/wh-1", adminToken, big, nil, 413},
			call{"PUT", "/v1/locations/wh-1", adminToken, `priority=5`, text, 415},
			call{"GET", "/v1/locations", adminToken, "", nil, 200},
			call{"GET", "/v1/locations", "", "", nil, 401},
			call{"GET", "/v1/locations", alice, "", nil, 403},
			call{"GET", "/v1/admin/stock/audit", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/stock/audit", "", "", nil, 401},
			call{"GET", "/v1/admin/stock/audit", ops, "", nil, 403},
			call{"GET", "/v1/admin/payments/audit", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/payments/audit", "", "", nil, 401},
			call{"GET", "/v1/admin/payments/audit", ops, "", nil, 403},
			call{"GET", "/v1/admin/payments/refunds/failed", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/payments/refunds/failed?limit=0", adminToken, "", nil, 400},
			call{"GET", "/v1/admin/payments/refunds/failed", "", "", nil, 401},
			call{"GET", "/v1/admin/payments/refunds/failed", ops, "", nil, 403},
			call{"POST", "/v1/admin/payments/pay_none/retry", adminToken, "", nil, 404},
			call{"POST", "/v1/admin/payments/pay_none/retry", "", "", nil, 401},
			call{"POST", "/v1/admin/payments/pay_none/retry", ops, "", nil, 403},

			// The organisation tree: hq → east → shanghai, hq → east → pudong, hq → west.
			call{"POST", "/v1/admin/orgs", adminToken, `{"id":"hq","name":"Headquarters","kind":"hq"}`, nil, 201},
			call{"POST", "/v1/admin/orgs", adminToken, `{"id":"east","parent":"hq","name":"East region","kind":"region"}`, nil, 201},
			call{"POST", "/v1/admin/orgs", adminToken, `{"id":"west","parent":"hq","kind":"region"}`, nil, 201},
			call{"POST", "/v1/admin/orgs", adminToken, `{"id":"shanghai","parent":"east","kind":"store"}`, nil, 201},
			call{"POST", "/v1/admin/orgs", adminToken, `{"id":"pudong","parent":"east"}`, nil, 201},
			call{"POST", "/v1/admin/orgs", adminToken, `{"id":"east","parent":"west"}`, nil, 409},
			call{"POST", "/v1/admin/orgs", adminToken, `{"id":"East Region"}`, nil, 400},
			call{"POST", "/v1/admin/orgs", adminToken, `{"id":"x","parent":"ghost"}`, nil, 400},
			call{"POST", "/v1/admin/orgs", "", `{"id":"x"}`, nil, 401},
			call{"POST", "/v1/admin/orgs", ops, `{"id":"x"}`, nil, 403},
			call{"POST", "/v1/admin/orgs", adminToken, big, nil, 413},
			call{"POST", "/v1/admin/orgs", adminToken, `id=x`, text, 415},
			call{"GET", "/v1/admin/orgs?limit=2", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/orgs?limit=0", adminToken, "", nil, 400},
			call{"GET", "/v1/admin/orgs?cursor=x", adminToken, "", nil, 400},
			call{"GET", "/v1/admin/orgs", "", "", nil, 401},
			call{"GET", "/v1/admin/orgs", agent, "", nil, 403},
			call{"GET", "/v1/admin/orgs?under=ghost", adminToken, "", nil, 404},
			call{"GET", "/v1/admin/orgs/east", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/orgs/east", "", "", nil, 401},
			call{"GET", "/v1/admin/orgs/east", ops, "", nil, 403},
			call{"GET", "/v1/admin/orgs/ghost", adminToken, "", nil, 404},
		)
		created := e.do("POST", "/v1/admin/orgs", adminToken, `{"id":"chengdu","parent":"west"}`)
		expect(t, created, 201, "")
		if loc, org := created.header.Get("Location"), decodeJSON[api.OrgView](t, created); loc != "/v1/admin/orgs/chengdu" ||
			org.Path != "/hq/west/chengdu/" || org.Parent != "west" {
			t.Fatalf("created chengdu at %q: %+v", loc, org)
		}
		if got := orgPaths(t, e.do("GET", "/v1/admin/orgs?under=east", adminToken, nil)); !slices.Equal(got,
			[]string{"/hq/east/", "/hq/east/pudong/", "/hq/east/shanghai/"}) {
			t.Fatalf("the subtree of east: %v", got)
		}

		// Principals in the tree: carol, an agent at east, and frank, a buyer at shanghai.
		carol := e.principalIn("carol", "east", "buyer", "agent")
		frank := e.principalIn("frank", "shanghai", "buyer")
		run(
			call{"POST", "/v1/admin/principals", adminToken, `{"id":"carol","roles":["buyer"]}`, nil, 409},
			call{"POST", "/v1/admin/principals", adminToken, `{"id":"dave","roles":"buyer"}`, nil, 400},
			call{"POST", "/v1/admin/principals", adminToken, `{"id":"dave","roles":["buyer"],"org":"ghost"}`, nil, 400},
			call{"POST", "/v1/admin/principals", adminToken, `{"id":"dave","roles":["buyer"],"org":"/hq/east"}`, nil, 400},
			call{"POST", "/v1/admin/principals", "", `{"id":"dave","roles":["buyer"]}`, nil, 401},
			call{"POST", "/v1/admin/principals", alice, `{"id":"dave","roles":["admin"]}`, nil, 403},
			call{"POST", "/v1/admin/principals", adminToken, big, nil, 413},
			call{"POST", "/v1/admin/principals", adminToken, `id=dave`, text, 415},
			call{"POST", "/v1/admin/principals", adminToken, `{"id":"dave","roles":["agent"],"attrs":{"agentLevel":"1"}}`, nil, 201},
			call{"POST", "/v1/admin/principals", adminToken, `{"id":"erin","roles":["operator"],"identities":["retail","b2b"]}`, nil, 201},
			call{"GET", "/v1/admin/principals/carol", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/principals/carol", "", "", nil, 401},
			call{"GET", "/v1/admin/principals/carol", ops, "", nil, 403},
			call{"GET", "/v1/admin/principals/ghost", adminToken, "", nil, 404},
			call{"PUT", "/v1/admin/principals/dave", adminToken, `{"roles":["agent","buyer"],"org":"east","attrs":{"agentLevel":"2"}}`, nil, 200},
			call{"PUT", "/v1/admin/principals/dave", adminToken, `{"roles":["wizard"]}`, nil, 400},
			call{"PUT", "/v1/admin/principals/ghost", adminToken, `{"roles":["buyer"]}`, nil, 404},
			call{"PUT", "/v1/admin/principals/dave", "", `{"roles":["buyer"]}`, nil, 401},
			call{"PUT", "/v1/admin/principals/dave", alice, `{"roles":["admin"]}`, nil, 403},
			call{"PUT", "/v1/admin/principals/dave", adminToken, big, nil, 413},
			call{"PUT", "/v1/admin/principals/dave", adminToken, `roles=admin`, text, 415},
			call{"PUT", "/v1/admin/principals/root", adminToken, `{"roles":["operator"]}`, nil, 409},
			call{"POST", "/v1/admin/principals/erin/token", adminToken, `{"expiresIn":"720h"}`, nil, 200},
			call{"POST", "/v1/admin/principals/erin/token", adminToken, `{"expiresIn":"soon"}`, nil, 400},
			call{"POST", "/v1/admin/principals/erin/token", "", "", nil, 401},
			call{"POST", "/v1/admin/principals/erin/token", alice, "", nil, 403},
			call{"POST", "/v1/admin/principals/ghost/token", adminToken, "", nil, 404},
			call{"POST", "/v1/admin/principals/erin/token", adminToken, big, nil, 413},
			call{"POST", "/v1/admin/principals/erin/token", adminToken, `x=1`, text, 415},
			call{"DELETE", "/v1/admin/principals/erin", "", "", nil, 401},
			call{"DELETE", "/v1/admin/principals/erin", alice, "", nil, 403},
			call{"DELETE", "/v1/admin/principals/root", adminToken, "", nil, 409},
			call{"DELETE", "/v1/admin/principals/erin", adminToken, "", nil, 204},
			call{"DELETE", "/v1/admin/principals/erin", adminToken, "", nil, 404},
		)
		if v := decodeJSON[api.PrincipalView](t, e.do("GET", "/v1/admin/principals/carol", adminToken, nil)); v.Org != "east" ||
			v.OrgPath != "/hq/east/" || !slices.Equal(v.Roles, []string{"buyer", "agent"}) {
			t.Fatalf("carol: %+v", v)
		}

		// frank's order is owned at shanghai: carol, the agent at east, acts on
		// it until shanghai moves to the west, at once.
		franks := e.do("POST", "/v1/orders", frank, `{"items":[{"sku":"topup-50","quantity":1}]}`, idem()...)
		expect(t, franks, 201, "")
		frankOrder := decodeView(t, franks)
		if frankOrder.OwnerOrg != "shanghai" {
			t.Fatalf("frank's order is owned by %q, not shanghai", frankOrder.OwnerOrg)
		}
		run(call{"GET", "/v1/orders/" + frankOrder.ID, carol, "", nil, 200})
		moved := e.do("POST", "/v1/admin/orgs/shanghai/move", adminToken, `{"parent":"west"}`)
		expect(t, moved, 200, "")
		if org := decodeJSON[api.OrgView](t, moved); org.Path != "/hq/west/shanghai/" || org.Parent != "west" {
			t.Fatalf("shanghai after the move: %+v", org)
		}
		run(
			call{"GET", "/v1/orders/" + frankOrder.ID, carol, "", nil, 404},
			call{"POST", "/v1/admin/orgs/shanghai/move", adminToken, `{}`, nil, 400},
			call{"POST", "/v1/admin/orgs/shanghai/move", adminToken, `{"parent":"ghost"}`, nil, 400},
			call{"POST", "/v1/admin/orgs/shanghai/move", "", `{"parent":"east"}`, nil, 401},
			call{"POST", "/v1/admin/orgs/shanghai/move", ops, `{"parent":"east"}`, nil, 403},
			call{"POST", "/v1/admin/orgs/ghost/move", adminToken, `{"parent":"east"}`, nil, 404},
			call{"POST", "/v1/admin/orgs/hq/move", adminToken, `{"parent":"shanghai"}`, nil, 409},
			call{"POST", "/v1/admin/orgs/shanghai/move", adminToken, big, nil, 413},
			call{"POST", "/v1/admin/orgs/shanghai/move", adminToken, `parent=east`, text, 415},

			call{"DELETE", "/v1/admin/orgs/west", adminToken, "", nil, 409},     // children
			call{"DELETE", "/v1/admin/orgs/shanghai", adminToken, "", nil, 409}, // frank and his order
			call{"DELETE", "/v1/admin/orgs/pudong", "", "", nil, 401},
			call{"DELETE", "/v1/admin/orgs/pudong", ops, "", nil, 403},
			call{"DELETE", "/v1/admin/orgs/pudong", adminToken, "", nil, 204},
			call{"DELETE", "/v1/admin/orgs/pudong", adminToken, "", nil, 404},
		)
		if r := e.do("DELETE", "/v1/admin/orgs/shanghai", adminToken, nil); r.code() != "org_in_use" ||
			r.json(t)["principals"] != 1.0 || r.json(t)["orders"] != 1.0 || r.json(t)["children"] != 0.0 {
			t.Fatalf("removing shanghai: %s", r)
		}

		// The policy in force: the shipped one, which a reload loads again.
		st0 := decodeJSON[api.PolicyStatus](t, e.do("GET", "/v1/admin/policies", adminToken, nil))
		run(
			call{"GET", "/v1/admin/policies", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/policies", "", "", nil, 401},
			call{"GET", "/v1/admin/policies", ops, "", nil, 403},
			call{"POST", "/v1/admin/policies/reload", adminToken, "", nil, 200},
			call{"POST", "/v1/admin/policies/reload", "", "", nil, 401},
			call{"POST", "/v1/admin/policies/reload", ops, "", nil, 403},
		)
		if st := decodeJSON[api.PolicyStatus](t, e.do("GET", "/v1/admin/policies", adminToken, nil)); st.Source != st0.Source ||
			st.Revision != st0.Revision+1 || st.Digest != st0.Digest || st.LastError != "" {
			t.Fatalf("policy status after a reload of the shipped policy: %+v (before: %+v)", st, st0)
		}

		run(
			// Bizpacks, on the fake host of bizpacks_test.go.
			call{"GET", "/v1/admin/bizpacks", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/bizpacks", "", "", nil, 401},
			call{"GET", "/v1/admin/bizpacks", ops, "", nil, 403},
			call{"POST", "/v1/admin/bizpacks/virtual-topup/reload", adminToken, `{"path":"/opt/tmf/virtual-topup-1.4.0","sha256":"` + goodSHA + `"}`, nil, 200},
			call{"POST", "/v1/admin/bizpacks/virtual-topup/reload", adminToken, `{"sha256":"abc"}`, nil, 400},
			call{"POST", "/v1/admin/bizpacks/virtual-topup/reload", "", "", nil, 401},
			call{"POST", "/v1/admin/bizpacks/virtual-topup/reload", ops, "", nil, 403},
			call{"POST", "/v1/admin/bizpacks/ghost/reload", adminToken, "", nil, 404},
			call{"POST", "/v1/admin/bizpacks/virtual-topup/reload", adminToken, big, nil, 413},
			call{"POST", "/v1/admin/bizpacks/virtual-topup/reload", adminToken, `path=/x`, text, 415},
			call{"POST", "/v1/admin/bizpacks/broken/reload", adminToken, "", nil, 422},
			call{"POST", "/v1/admin/bizpacks/virtual-topup/rollback", adminToken, "", nil, 200},
			call{"POST", "/v1/admin/bizpacks/virtual-topup/rollback", "", "", nil, 401},
			call{"POST", "/v1/admin/bizpacks/virtual-topup/rollback", ops, "", nil, 403},
			call{"POST", "/v1/admin/bizpacks/ghost/rollback", adminToken, "", nil, 404},
			call{"POST", "/v1/admin/bizpacks/flash-sale/rollback", adminToken, "", nil, 409},
			call{"POST", "/v1/admin/bizpacks/pinned/rollback", adminToken, "", nil, 422},
		)

		// Promotions, coupons, budgets.
		pct := `{"name":"Ten percent off mugs","kind":"percent_off","group":"pct","conditions":{"skus":["mug"]},` +
			`"params":{"basisPoints":1000},"budget":10000,"currency":"CNY","enabled":true,"version":%d}`
		coupon := `{"name":"5 off","kind":"amount_off","group":"coupon","params":{"amount":500},"couponRequired":true,` +
			`"currency":"CNY","enabled":true,"conditions":{"endsAt":"2099-01-01T00:00:00Z"}}`
		run(
			call{"PUT", "/v1/admin/promotions/p1", adminToken, fmt.Sprintf(pct, 0), nil, 201},
			call{"PUT", "/v1/admin/promotions/p1", adminToken, fmt.Sprintf(pct, 1), nil, 200},
			call{"PUT", "/v1/admin/promotions/c1", adminToken, coupon, nil, 201},
			call{"PUT", "/v1/admin/promotions/p1", adminToken, `{"kind":5}`, nil, 400},
			call{"PUT", "/v1/admin/promotions/p1", "", `{}`, nil, 401},
			call{"PUT", "/v1/admin/promotions/p1", ops, fmt.Sprintf(pct, 2), nil, 403},
			call{"PUT", "/v1/admin/promotions/ghost", adminToken, fmt.Sprintf(pct, 3), nil, 404},
			call{"PUT", "/v1/admin/promotions/p1", adminToken, fmt.Sprintf(pct, 0), nil, 409},
			call{"PUT", "/v1/admin/promotions/p1", adminToken, big, nil, 413},
			call{"PUT", "/v1/admin/promotions/p1", adminToken, `kind=percent_off`, text, 415},
			call{"PUT", "/v1/admin/promotions/bad", adminToken, `{"kind":"nope","group":"g","currency":"CNY"}`, nil, 422},
			call{"GET", "/v1/admin/promotions", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/promotions", "", "", nil, 401},
			call{"GET", "/v1/admin/promotions", ops, "", nil, 403},
			call{"GET", "/v1/admin/promotions/p1", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/promotions/a%20b", adminToken, "", nil, 400},
			call{"GET", "/v1/admin/promotions/p1", "", "", nil, 401},
			call{"GET", "/v1/admin/promotions/p1", alice, "", nil, 403},
			call{"GET", "/v1/admin/promotions/ghost", adminToken, "", nil, 404},

			call{"POST", "/v1/admin/promotions/c1/coupons", adminToken, `{"owner":"alice","codes":["C-1","C-2"]}`, nil, 201},
			call{"POST", "/v1/admin/promotions/c1/coupons", adminToken, `{"owner":"auditor","codes":["C-AUD"]}`, nil, 201},
			call{"POST", "/v1/admin/promotions/c1/coupons", adminToken, `{"codes":[]}`, nil, 400},
			call{"POST", "/v1/admin/promotions/c1/coupons", "", `{"codes":["C-3"]}`, nil, 401},
			call{"POST", "/v1/admin/promotions/c1/coupons", ops, `{"codes":["C-3"]}`, nil, 403},
			call{"POST", "/v1/admin/promotions/ghost/coupons", adminToken, `{"codes":["C-3"]}`, nil, 404},
			call{"POST", "/v1/admin/promotions/c1/coupons", adminToken, `{"owner":"bob","codes":["C-1"]}`, nil, 409},
			call{"POST", "/v1/admin/promotions/c1/coupons", adminToken, big, nil, 413},
			call{"POST", "/v1/admin/promotions/c1/coupons", adminToken, `codes=C-3`, text, 415},
			call{"POST", "/v1/admin/promotions/p1/coupons", adminToken, `{"codes":["C-3"]}`, nil, 422},

			call{"POST", "/v1/admin/promotions/p1/budget", adminToken, `{"amount":500}`, idem(), 200},
			call{"POST", "/v1/admin/promotions/p1/budget", adminToken, `{"amount":0}`, idem(), 400},
			call{"POST", "/v1/admin/promotions/p1/budget", "", `{"amount":500}`, idem(), 401},
			call{"POST", "/v1/admin/promotions/p1/budget", ops, `{"amount":500}`, idem(), 403},
			call{"POST", "/v1/admin/promotions/ghost/budget", adminToken, `{"amount":500}`, idem(), 404},
			call{"POST", "/v1/admin/promotions/p1/budget", adminToken, big, idem(), 413},
			call{"POST", "/v1/admin/promotions/p1/budget", adminToken, `amount=500`, append(idem(), text...), 415},
			call{"POST", "/v1/admin/promotions/c1/budget", adminToken, `{"amount":500}`, idem(), 422},

			call{"PUT", "/v1/admin/promotion-groups", adminToken, `{"groups":["pct","coupon"]}`, nil, 200},
			call{"PUT", "/v1/admin/promotion-groups", adminToken, `{"groups":"pct"}`, nil, 400},
			call{"PUT", "/v1/admin/promotion-groups", "", `{"groups":[]}`, nil, 401},
			call{"PUT", "/v1/admin/promotion-groups", ops, `{"groups":[]}`, nil, 403},
			call{"PUT", "/v1/admin/promotion-groups", adminToken, big, nil, 413},
			call{"PUT", "/v1/admin/promotion-groups", adminToken, `groups=pct`, text, 415},
			call{"PUT", "/v1/admin/promotion-groups", adminToken, `{"groups":["a b"]}`, nil, 422},

			call{"GET", "/v1/coupons/C-1", alice, "", nil, 200},
			call{"GET", "/v1/coupons/a%20b", alice, "", nil, 400},
			call{"GET", "/v1/coupons/C-1", "", "", nil, 401},
			// The auditor may see its own coupon but, holding no known role, not read it.
			call{"GET", "/v1/coupons/C-AUD", auditor, "", nil, 403},
			call{"GET", "/v1/coupons/C-1", auditor, "", nil, 404},
			call{"GET", "/v1/coupons/C-1", bob, "", nil, 404},

			// Credit lines.
			call{"PUT", "/v1/admin/credit/agent-x", adminToken, `{"currency":"CNY","limit":100000}`, nil, 200},
			call{"PUT", "/v1/admin/credit/agent-x", adminToken, `{"currency":"cny","limit":1}`, nil, 400},
			call{"PUT", "/v1/admin/credit/agent-x", "", `{"currency":"CNY","limit":1}`, nil, 401},
			call{"PUT", "/v1/admin/credit/agent-x", ops, `{"currency":"CNY","limit":1}`, nil, 403},
			call{"PUT", "/v1/admin/credit/agent-x", adminToken, big, nil, 413},
			call{"PUT", "/v1/admin/credit/agent-x", adminToken, `limit=1`, text, 415},
			call{"PUT", "/v1/admin/credit/agent-x", adminToken, `{"currency":"USD","limit":1}`, nil, 422},
			call{"GET", "/v1/admin/credit/agent-x", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/credit/a%20b", adminToken, "", nil, 400},
			call{"GET", "/v1/admin/credit/agent-x", "", "", nil, 401},
			call{"GET", "/v1/admin/credit/agent-x", agent, "", nil, 403},
			call{"GET", "/v1/admin/credit/nobody", adminToken, "", nil, 404},
			call{"GET", "/v1/credit", agent, "", nil, 200},
			call{"GET", "/v1/credit", "", "", nil, 401},
			call{"GET", "/v1/credit", alice, "", nil, 403},
			call{"GET", "/v1/credit", broke, "", nil, 404},
		)
		// The agent's order holds credit: the limit cannot go below it.
		place(agent, `{"bizCode":"b2b","items":[{"sku":"excl","quantity":1}],"channel":"app","shippingAddress":{"region":"CN-31"}}`)
		run(call{"PUT", "/v1/admin/credit/agent-x", adminToken, `{"currency":"CNY","limit":1}`, nil, 409})

		// Orders.
		placed := e.do("POST", "/v1/orders", alice, `{"items":[{"sku":"mug","quantity":1}],"shippingAddress":{"region":"CN-31"}}`, idem()...)
		expect(t, placed, 201, "")
		id := decodeView(t, placed).ID
		replay := e.do("POST", "/v1/orders", alice, `{"items":[{"sku":"mug","quantity":1}],"shippingAddress":{"region":"CN-31"}}`,
			"Idempotency-Key", placed.req.Header.Get("Idempotency-Key"))
		expect(t, replay, 201, "")
		faultyID := place(alice, `{"bizCode":"faulty","items":[{"sku":"topup-50","quantity":1}]}`)
		declinedID := place(alice, `{"items":[{"sku":"mug","quantity":1}],"shippingAddress":{"region":"CN-31"}}`)
		pendingID := place(alice, `{"items":[{"sku":"mug","quantity":1}],"shippingAddress":{"region":"CN-31"}}`)
		balanceID := place(alice, `{"items":[{"sku":"topup-50","quantity":1}],"paymentMethod":"balance"}`)
		run(
			call{"POST", "/v1/orders", alice, `{"items":[{"sku":"mug","quantity":1,"price":1}]}`, idem(), 400},
			call{"POST", "/v1/orders", alice, `{"items":[{"sku":"mug","quantity":1}]}`, nil, 400},
			call{"POST", "/v1/orders", "", `{"items":[{"sku":"mug","quantity":1}]}`, idem(), 401},
			call{"POST", "/v1/orders", ops, `{"items":[{"sku":"mug","quantity":1}]}`, idem(), 403},
			call{"POST", "/v1/orders", alice, `{"items":[{"sku":"mug","quantity":9}],"shippingAddress":{"region":"CN-31"}}`, idem(), 409},
			call{"POST", "/v1/orders", alice, big, idem(), 413},
			call{"POST", "/v1/orders", alice, `items=mug`, append(idem(), text...), 415},
			call{"POST", "/v1/orders", alice, `{"items":[{"sku":"nope","quantity":1}]}`, idem(), 422},
			call{"POST", "/v1/orders", alice, `{"bizCode":"faulty","channel":"fail","items":[{"sku":"topup-50","quantity":1}]}`, idem(), 502},
			call{"POST", "/v1/orders", alice, `{"bizCode":"faulty","channel":"slow","items":[{"sku":"topup-50","quantity":1}]}`, idem(), 504},

			call{"GET", "/v1/orders?limit=1", alice, "", nil, 200},
			call{"GET", "/v1/orders?limit=1000", alice, "", nil, 400},
			call{"GET", "/v1/orders", "", "", nil, 401},
			call{"GET", "/v1/orders", auditor, "", nil, 403},

			call{"GET", "/v1/orders/" + id, alice, "", nil, 200},
			call{"GET", "/v1/orders/" + id, "", "", nil, 401},
			call{"GET", "/v1/orders/" + id, auditor, "", nil, 404},
			call{"GET", "/v1/orders/" + id, bob, "", nil, 404},

			call{"GET", "/v1/orders/" + id + "/trace", alice, "", nil, 200},
			call{"GET", "/v1/orders/" + id + "/trace", "", "", nil, 401},
			call{"GET", "/v1/orders/" + id + "/trace", auditor, "", nil, 404},
			call{"GET", "/v1/orders/" + id + "/trace", bob, "", nil, 404},
			call{"GET", "/v1/orders/" + id + "/history", alice, "", nil, 200},
			call{"GET", "/v1/orders/" + id + "/history", "", "", nil, 401},
			call{"GET", "/v1/orders/" + id + "/history", bob, "", nil, 404},

			// Payments.
			call{"POST", "/v1/orders/" + id + "/payments", alice, `{"card":{"number":"` + cardOK + `"}}`, idem(), 200},
			call{"POST", "/v1/orders/" + id + "/payments", alice, `{"card":{"number":"` + cardOK + `"}}`, nil, 400},
			call{"POST", "/v1/orders/" + id + "/payments", "", `{}`, idem(), 401},
			call{"POST", "/v1/orders/" + declinedID + "/payments", alice, `{"card":{"number":"` + cardDeclined + `"}}`, idem(), 402},
			call{"POST", "/v1/orders/" + id + "/payments", ops, `{}`, idem(), 403},
			call{"POST", "/v1/orders/" + id + "/payments", bob, `{"card":{"number":"` + cardOK + `"}}`, idem(), 404},
			call{"POST", "/v1/orders/" + id + "/payments", alice, `{"card":{"number":"` + cardOK + `"}}`, idem(), 409},
			call{"POST", "/v1/orders/" + id + "/payments", alice, big, idem(), 413},
			call{"POST", "/v1/orders/" + id + "/payments", alice, `card=4242`, append(idem(), text...), 415},
			call{"POST", "/v1/orders/" + balanceID + "/payments", alice, `{}`, idem(), 422},
			call{"POST", "/v1/orders/" + pendingID + "/payments", alice, `{"card":{"number":"` + cardProcError + `"}}`, idem(), 503},
			call{"GET", "/v1/orders/" + id + "/payments", alice, "", nil, 200},
			call{"GET", "/v1/orders/" + id + "/payments", "", "", nil, 401},
			call{"GET", "/v1/orders/" + id + "/payments", auditor, "", nil, 404},
			call{"GET", "/v1/orders/" + id + "/payments", bob, "", nil, 404},

			// Events.
			call{"POST", "/v1/orders/" + id + "/events", ops, `{"event":"ship"}`, nil, 200},
			call{"POST", "/v1/orders/" + id + "/events", alice, `{"event":""}`, nil, 400},
			call{"POST", "/v1/orders/" + id + "/events", "", `{"event":"ship"}`, nil, 401},
			call{"POST", "/v1/orders/" + id + "/events", alice, `{"event":"ship"}`, nil, 403},
			call{"POST", "/v1/orders/" + id + "/events", bob, `{"event":"cancel"}`, nil, 404},
			call{"POST", "/v1/orders/" + pendingID + "/events", alice, `{"event":"pay"}`, nil, 409},
			call{"POST", "/v1/orders/" + pendingID + "/events", alice, `{"event":"cancel"}`, []string{"If-Match", `"999"`}, 412},
			call{"POST", "/v1/orders/" + id + "/events", alice, `{"event":"cancel","data":{"note":"` + strings.Repeat("x", 2<<20) + `"}}`, nil, 413},
			call{"POST", "/v1/orders/" + id + "/events", alice, `event=cancel`, text, 415},
			call{"POST", "/v1/orders/" + faultyID + "/events", alice, `{"event":"cancel","data":{"fail":"yes"}}`, nil, 502},
			call{"POST", "/v1/orders/" + faultyID + "/events", alice, `{"event":"cancel","data":{"slow":"yes"}}`, nil, 504},

			// Returns of the shipped order.
			call{"POST", "/v1/orders/" + id + "/returns", alice, `{"items":[{"sku":"mug","quantity":1}]}`, []string{"Idempotency-Key", "ret-1"}, 201},
			call{"POST", "/v1/orders/" + id + "/returns", alice, `{"items":[{"sku":"mug","quantity":1}]}`, []string{"Idempotency-Key", "ret-1"}, 200},
			call{"POST", "/v1/orders/" + id + "/returns", alice, `{"items":[]}`, idem(), 400},
			call{"POST", "/v1/orders/" + id + "/returns", "", `{"items":[{"sku":"mug","quantity":1}]}`, idem(), 401},
			call{"POST", "/v1/orders/" + id + "/returns", auditor, `{"items":[{"sku":"mug","quantity":1}]}`, idem(), 404},
			call{"POST", "/v1/orders/" + id + "/returns", bob, `{"items":[{"sku":"mug","quantity":1}]}`, idem(), 404},
			call{"POST", "/v1/orders/" + id + "/returns", alice, big, idem(), 413},
			call{"POST", "/v1/orders/" + id + "/returns", alice, `sku=mug`, append(idem(), text...), 415},
			call{"POST", "/v1/orders/" + id + "/returns", alice, `{"items":[{"sku":"mug","quantity":1}]}`, idem(), 422},
			// ret-1 is rejected, ret-2 cancelled, ret-3 received.
			call{"POST", "/v1/orders/" + id + "/returns/ret-1/approve", alice, "", nil, 403},
			call{"POST", "/v1/orders/" + id + "/returns/ret-1/receive", ops, "", nil, 409},
			call{"POST", "/v1/orders/" + id + "/returns/ret-1/reject", ops, `{}`, nil, 400},
			call{"POST", "/v1/orders/" + id + "/returns/ret-1/reject", alice, `{"reason":"late"}`, nil, 403},
			call{"POST", "/v1/orders/" + id + "/returns/ret-1/reject", "", `{"reason":"late"}`, nil, 401},
			call{"POST", "/v1/orders/" + id + "/returns/ret-1/reject", bob, `{"reason":"late"}`, nil, 404},
			call{"POST", "/v1/orders/" + id + "/returns/ret-1/reject", ops, big, nil, 413},
			call{"POST", "/v1/orders/" + id + "/returns/ret-1/reject", ops, `reason=x`, text, 415},
			call{"POST", "/v1/orders/" + id + "/returns/ret-1/reject", ops, `{"reason":"late"}`, nil, 200},
			call{"POST", "/v1/orders/" + id + "/returns/ret-1/reject", ops, `{"reason":"late"}`, nil, 200},
			call{"POST", "/v1/orders/" + id + "/returns/ret-1/reject", ops, `{"reason":"later"}`, nil, 200},
			call{"POST", "/v1/orders/" + id + "/returns/ret-1/approve", ops, "", nil, 409},
			call{"POST", "/v1/orders/" + id + "/returns/ret-1/cancel", alice, "", nil, 409},
			call{"POST", "/v1/orders/" + id + "/returns", alice, `{"items":[{"sku":"mug","quantity":1}]}`, []string{"Idempotency-Key", "ret-2"}, 201},
			call{"POST", "/v1/orders/" + id + "/returns/ret-2/cancel", ops, "", nil, 403},
			call{"POST", "/v1/orders/" + id + "/returns/ret-2/cancel", alice, `{"reason":[]}`, nil, 400},
			call{"POST", "/v1/orders/" + id + "/returns/ret-2/cancel", "", "", nil, 401},
			call{"POST", "/v1/orders/" + id + "/returns/ret-2/cancel", bob, "", nil, 404},
			call{"POST", "/v1/orders/" + id + "/returns/ret-2/cancel", alice, big, nil, 413},
			call{"POST", "/v1/orders/" + id + "/returns/ret-2/cancel", alice, `x`, text, 415},
			call{"POST", "/v1/orders/" + id + "/returns/ret-2/cancel", alice, `{"reason":"changed my mind"}`, nil, 200},
			call{"POST", "/v1/orders/" + id + "/returns/ret-2/cancel", alice, "", nil, 200},
			call{"POST", "/v1/orders/" + id + "/returns/ret-2/receive", ops, "", nil, 409},
			call{"POST", "/v1/orders/" + id + "/returns", alice, `{"items":[{"sku":"mug","quantity":1}]}`, []string{"Idempotency-Key", "ret-3"}, 201},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/approve", ops, `{`, nil, 400},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/approve", "", "", nil, 401},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/approve", bob, "", nil, 404},
			call{"POST", "/v1/orders/" + id + "/returns/nope/approve", ops, "", nil, 404},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/approve", ops, big, nil, 413},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/approve", ops, `reason=x`, text, 415},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/approve", ops, `{"reason":"ok"}`, nil, 200},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/approve", ops, "", nil, 200},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/receive", alice, "", nil, 403},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/receive", ops, `{"x":1}`, nil, 400},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/receive", "", "", nil, 401},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/receive", bob, "", nil, 404},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/receive", ops, big, nil, 413},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/receive", ops, `x`, text, 415},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/receive", ops, "", nil, 200},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/receive", ops, "", nil, 200},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/approve", ops, "", nil, 409},
			call{"POST", "/v1/orders/" + id + "/returns/ret-3/reject", ops, `{"reason":"late"}`, nil, 409},
			call{"GET", "/v1/orders/" + id + "/returns", alice, "", nil, 200},
			call{"GET", "/v1/orders/" + id + "/returns", "", "", nil, 401},
			call{"GET", "/v1/orders/" + id + "/returns", auditor, "", nil, 404},
			call{"GET", "/v1/orders/" + id + "/returns", bob, "", nil, 404},
		)

		// A refund the processor refuses for good: listed, and retried by an admin.
		refusedID := place(alice, `{"items":[{"sku":"mug","quantity":1}],"shippingAddress":{"region":"CN-31"}}`)
		run(call{"POST", "/v1/orders/" + refusedID + "/payments", alice, `{"card":{"number":"` + payment.CardRefundDeclined + `"}}`, idem(), 200},
			call{"POST", "/v1/orders/" + refusedID + "/events", alice, `{"event":"cancel"}`, nil, 200})
		e.relayRefunds()
		failed := decodeJSON[api.FailedRefundList](t, e.do("GET", "/v1/admin/payments/refunds/failed", adminToken, nil))
		if len(failed.Refunds) != 1 || failed.Refunds[0].OrderID != refusedID || failed.Refunds[0].FailureCode != "refund_declined" {
			t.Fatalf("failed refunds %+v", failed)
		}
		run(call{"POST", "/v1/admin/payments/" + failed.Refunds[0].ID + "/retry", adminToken, "", nil, 201},
			call{"POST", "/v1/admin/payments/" + failed.Refunds[0].ChargeID + "/retry", adminToken, "", nil, 409})

		// A policy under which the auditor may know that every order exists
		// and do nothing with it: the order endpoints' 403, which the shipped
		// policy never gives on reads (seeing an order is reading it there).
		dir := t.TempDir()
		writePolicy(t, dir, "authz.rego", auditorPolicy)
		pol, err := authz.New(t.Context(), authz.Options{Source: dir, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		audited := e.withPolicy(pol)
		runOn(audited,
			call{"GET", "/v1/orders/" + id, auditor, "", nil, 403},
			call{"GET", "/v1/orders/" + id + "/trace", auditor, "", nil, 403},
			call{"GET", "/v1/orders/" + id + "/history", auditor, "", nil, 403},
			call{"GET", "/v1/orders/" + id + "/payments", auditor, "", nil, 403},
			call{"GET", "/v1/orders/" + id + "/returns", auditor, "", nil, 403},
			call{"POST", "/v1/orders/" + id + "/returns", auditor, `{"items":[{"sku":"mug","quantity":1}]}`, idem(), 403},
			call{"GET", "/v1/orders/" + id, alice, "", nil, 404},
			call{"GET", "/v1/admin/policies", adminToken, "", nil, 200},
			call{"POST", "/v1/admin/policies/reload", adminToken, "", nil, 200},
		)
		// A policy that does not compile is refused; the one in force stays.
		writePolicy(t, dir, "broken.rego", "package tmf.authz\n\nallow if {\n")
		refused := audited.do("POST", "/v1/admin/policies/reload", adminToken, nil)
		expect(t, refused, 422, "policy_invalid")
		if msg, _ := refused.json(t)["error"].(string); !strings.Contains(msg, "broken.rego") {
			t.Errorf("the refusal does not name the broken file: %s", refused)
		}
		if st := decodeJSON[api.PolicyStatus](t, audited.do("GET", "/v1/admin/policies", adminToken, nil)); st.Source != dir ||
			st.Revision != 2 || st.LastError == "" || st.LastErrorAt == nil {
			t.Errorf("policy status after a refused reload: %+v", st)
		}
		runOn(audited, call{"GET", "/v1/orders/" + id, auditor, "", nil, 403})

		// The order's identity is removed from the configuration: its events
		// cannot find a plan. (A disabled identity's orders still move.)
		cfg := testConfig()
		cfg.Revision = 2
		cfg.Identities = slices.DeleteFunc(cfg.Identities, func(s kernel.IdentitySpec) bool { return s.Code == "faulty" })
		if _, err := e.k.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		run(call{"POST", "/v1/orders/" + faultyID + "/events", alice, `{"event":"cancel"}`, nil, 422})
		cfg = testConfig()
		cfg.Revision = 3
		if _, err := e.k.Apply(cfg); err != nil {
			t.Fatal(err)
		}

		// The configuration, on top of the revision just applied.
		shop := `{"name":"Shop","products":[{"name":"standard-retail"}],"paymentTimeout":"20m","rules":[{"channel":"shop"}]}`
		clash := `{"products":[{"name":"standard-retail"},{"name":"virtual-goods"}]}`
		octet := []string{"Content-Type", "application/octet-stream"}
		run(
			call{"GET", "/v1/me", alice, "", nil, 200},
			call{"GET", "/v1/me", carol, "", nil, 200},
			call{"GET", "/v1/me", adminToken, "", nil, 200},
			call{"GET", "/v1/me", auditor, "", nil, 200},
			call{"GET", "/v1/me", "", "", nil, 401},

			call{"PUT", "/v1/admin/identities/shop", ops, shop, nil, 201},
			// shop did not exist in revision 1.
			call{"PUT", "/v1/admin/identities/shop", ops, shop, []string{"If-Match", `"1"`}, 412},
		)
		shopTag := e.do("GET", "/v1/admin/identities/shop", ops, nil).header.Get("ETag")
		run(
			call{"PUT", "/v1/admin/identities/shop", ops, `{"name":"Shop","products":[{"name":"standard-retail"}]}`, []string{"If-Match", shopTag}, 200},
			call{"PUT", "/v1/admin/identities/shop", ops, `{"paymentTimeout":"soon"}`, []string{"If-Match", "*"}, 400},
			// A change needs the ETag it was made from; a create must not find one.
			call{"PUT", "/v1/admin/identities/shop", ops, shop, nil, 428},
			call{"PUT", "/v1/admin/identities/shop", ops, shop, []string{"If-None-Match", "*"}, 412},
			call{"PUT", "/v1/admin/identities/shop", "", shop, nil, 401},
			call{"PUT", "/v1/admin/identities/shop.new", alice, shop, nil, 403},
			call{"PUT", "/v1/admin/identities/shop", alice, shop, nil, 404},
			call{"PUT", "/v1/admin/identities/shop", ops, big, []string{"If-Match", "*"}, 413},
			call{"PUT", "/v1/admin/identities/shop", ops, `name=Shop`, append([]string{"If-Match", "*"}, text...), 415},
			call{"PUT", "/v1/admin/identities/shop", ops, clash, []string{"If-Match", "*"}, 422},
			call{"POST", "/v1/admin/identities/shop/preview", ops, clash, nil, 200},
			call{"POST", "/v1/admin/identities/shop/preview", ops, shop, nil, 200},
			call{"POST", "/v1/admin/identities/shop/preview", ops, `{"colour":"red"}`, nil, 400},
			call{"POST", "/v1/admin/identities/shop/preview", "", shop, nil, 401},
			call{"POST", "/v1/admin/identities/shop.new/preview", alice, shop, nil, 403},
			call{"POST", "/v1/admin/identities/shop/preview", alice, shop, nil, 404},
			call{"POST", "/v1/admin/identities/shop/preview", ops, big, nil, 413},
			call{"POST", "/v1/admin/identities/shop/preview", ops, `name=Shop`, text, 415},
			call{"GET", "/v1/admin/identities", ops, "", nil, 200},
			call{"GET", "/v1/admin/identities", "", "", nil, 401},
			call{"GET", "/v1/admin/identities", alice, "", nil, 403},
			call{"GET", "/v1/admin/identities/shop", ops, "", nil, 200},
			call{"GET", "/v1/admin/identities/faulty", ops, "", nil, 200},
			call{"GET", "/v1/admin/identities/domestic", ops, "", nil, 200},
			call{"GET", "/v1/admin/identities/shop", "", "", nil, 401},
			call{"GET", "/v1/admin/identities/ghost", ops, "", nil, 404},
			call{"GET", "/v1/admin/identities/shop", alice, "", nil, 404},
			call{"GET", "/v1/admin/identities/b2b/plan", ops, "", nil, 200},
			call{"GET", "/v1/admin/identities/faulty/plan", ops, "", nil, 200},
			call{"GET", "/v1/admin/identities/shop/plan", "", "", nil, 401},
			call{"GET", "/v1/admin/identities/ghost/plan", ops, "", nil, 404},
			call{"GET", "/v1/admin/identities/b2b/lifecycle", ops, "", nil, 200},
			call{"GET", "/v1/admin/identities/shop/lifecycle", "", "", nil, 401},
			call{"GET", "/v1/admin/identities/ghost/lifecycle", ops, "", nil, 404},
			call{"GET", "/v1/admin/identities/shop/audit", ops, "", nil, 200},
			call{"GET", "/v1/admin/identities/shop/audit?cursor=x", ops, "", nil, 400},
			call{"GET", "/v1/admin/identities/shop/audit", "", "", nil, 401},
			call{"GET", "/v1/admin/identities/ghost/audit", ops, "", nil, 404},

			call{"GET", "/v1/admin/extension-points", ops, "", nil, 200},
			call{"GET", "/v1/admin/extension-points", "", "", nil, 401},
			call{"GET", "/v1/admin/extension-points", alice, "", nil, 403},
			call{"GET", "/v1/admin/products", ops, "", nil, 200},
			call{"GET", "/v1/admin/products", "", "", nil, 401},
			call{"GET", "/v1/admin/products", alice, "", nil, 403},
			call{"GET", "/v1/admin/audit?limit=2", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/audit?targetType=identity&targetId=shop", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/audit?cursor=x", adminToken, "", nil, 400},
			call{"GET", "/v1/admin/audit", "", "", nil, 401},
			call{"GET", "/v1/admin/audit", ops, "", nil, 403},
			call{"GET", "/v1/admin/events/types", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/events/types", "", "", nil, 401},
			call{"GET", "/v1/admin/events/types", ops, "", nil, 403},
			call{"GET", "/v1/admin/events/status", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/events/status", "", "", nil, 401},
			call{"GET", "/v1/admin/events/status", ops, "", nil, 403},
			call{"GET", "/v1/admin/readmodel", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/readmodel", "", "", nil, 401},
			call{"GET", "/v1/admin/readmodel", ops, "", nil, 403},
			call{"GET", "/v1/orders?sku=case", adminToken, "", nil, 400},
			call{"GET", "/v1/admin/principals?limit=2", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/principals?org=east", adminToken, "", nil, 200},
			call{"GET", "/v1/admin/principals?cursor=a%20b", adminToken, "", nil, 400},
			call{"GET", "/v1/admin/principals", "", "", nil, 401},
			call{"GET", "/v1/admin/principals", ops, "", nil, 403},
			call{"GET", "/v1/admin/principals?org=ghost", adminToken, "", nil, 404},
			call{"GET", "/v1/orders?buyerId=alice&limit=2", adminToken, "", nil, 200},
		)
		// A server that keeps no configuration.
		runOn(e.withoutKernel(), call{"GET", "/v1/admin/identities", ops, "", nil, 404})

		// A bizpack binary uploaded, then put in force by its checksum.
		uploaded := e.do("PUT", "/v1/admin/bizpacks/virtual-topup/binaries", adminToken, "a new build", octet...)
		expect(t, uploaded, 201, "")
		run(
			call{"POST", "/v1/admin/bizpacks/virtual-topup/reload", adminToken,
				`{"sha256":"` + decodeJSON[api.BizpackUpload](t, uploaded).SHA256 + `"}`, nil, 200},
			call{"PUT", "/v1/admin/bizpacks/virtual-topup/binaries", adminToken, "", octet, 400},
			call{"PUT", "/v1/admin/bizpacks/virtual-topup/binaries", "", "a new build", octet, 401},
			call{"PUT", "/v1/admin/bizpacks/virtual-topup/binaries", ops, "a new build", octet, 403},
			call{"PUT", "/v1/admin/bizpacks/ghost/binaries", adminToken, "a new build", octet, 404},
			call{"PUT", "/v1/admin/bizpacks/virtual-topup/binaries", adminToken, big, octet, 413},
			call{"PUT", "/v1/admin/bizpacks/virtual-topup/binaries", adminToken, `{"binary":"AA=="}`, nil, 415},
		)

		bad := fmt.Errorf("database unreachable")
		e.ready.Store(&bad)
		run(call{"GET", "/readyz", "", "", nil, 503})

		// A database that cannot serve: 503 unavailable with Retry-After,
		// whatever the route (documented on every /v1 operation).
		runOn(e.withClosedStore(),
			call{"GET", "/v1/me", alice, "", nil, 503},
			call{"GET", "/v1/orders", alice, "", nil, 503},
			call{"POST", "/v1/orders", alice, `{"items":[{"sku":"mug","quantity":1}]}`, idem(), 503},
		)

		// Routes the spec does not have are still problems (checked by conform).
		run(call{"GET", "/v2/orders", alice, "", nil, 404}, call{"DELETE", "/v1/skus/cap", adminToken, "", nil, 405})

		exerciseReconciliation(t, e, rec, alice)

		// Every documented status of every operation was answered, 500 aside.
		s, err := loadSpec()
		if err != nil {
			t.Fatal(err)
		}
		unavailable := s.model.Components.Responses.GetOrZero("Unavailable")
		limited := s.model.Components.Responses.GetOrZero("RateLimited")
		for path, item := range s.model.Paths.PathItems.FromOldest() {
			for method, op := range item.GetOperations().FromOldest() {
				name := strings.ToUpper(method) + " " + path
				if strings.HasPrefix(path, "/v1/admin/webhooks") {
					continue // served with a webhooks service: TestWebhookEndpointsMatchTheSpec
				}
				if strings.HasPrefix(path, "/v1/fulfilment/") || strings.HasPrefix(path, "/v1/admin/fulfilment") {
					continue // served with a fulfilment service: TestFulfilmentCallbacks
				}
				if path == "/v1/admin/dashboard" {
					continue // served with a dashboard: TestDashboard
				}
				for code, resp := range op.Responses.Codes.FromOldest() {
					status, _ := strconv.Atoi(code)
					// A 503 unavailable is documented on every operation
					// that reads the database; a few are answered above.
					if status == 503 && resp.Description == unavailable.Description {
						continue
					}
					// So is 429 rate_limited; TestRateLimits answers it.
					if status == 429 && resp.Description == limited.Description {
						continue
					}
					if status != 500 && !slices.Contains(raceOnly[name], status) && !e.seen.seen[name][status] {
						t.Errorf("%s: documented status %d was never answered", name, status)
					}
				}
			}
		}
		families := map[int]bool{}
		for _, statuses := range e.seen.seen {
			for s := range statuses {
				families[s/100] = true
			}
		}
		if got := slices.Sorted(maps.Keys(families)); !slices.Equal(got, []int{2, 4, 5}) {
			t.Errorf("status families answered: %v", got)
		}
	})
}

// auditorPolicy lets admins do everything and auditors know that every
// resource exists, and nothing else.
const auditorPolicy = `package tmf.authz

default allow := false

default visible := false

allow if "admin" in input.principal.roles

visible if "admin" in input.principal.roles

visible if "auditor" in input.principal.roles
`

func writePolicy(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// withPolicy is a second server over e's store, service and kernel that
// asks pol; its answers count towards e's coverage of the spec.
func (e *env) withPolicy(pol *authz.Engine) *env {
	c := *e
	srv := httptest.NewServer(api.New(api.Config{Service: e.svc, Store: e.st, Kernel: e.k, Promotions: e.book, Policy: pol,
		Logger: slog.New(slog.NewJSONHandler(e.logs, nil))}).Handler())
	e.t.Cleanup(srv.Close)
	c.srv = srv
	return &c
}

// withoutKernel is a second server over e's store and service that keeps
// no configuration; its answers count towards e's coverage of the spec.
func (e *env) withoutKernel() *env {
	c := *e
	pol, err := authz.New(e.t.Context(), authz.Options{Timeout: 10 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Service: e.svc, Store: e.st, Promotions: e.book, Policy: pol,
		Logger: slog.New(slog.NewJSONHandler(e.logs, nil))}).Handler())
	e.t.Cleanup(srv.Close)
	c.srv = srv
	return &c
}

// withClosedStore is a second server over a store whose connections are
// closed: every request that reads the database meets an unavailable one.
// Its answers count towards e's coverage of the spec.
func (e *env) withClosedStore() *env {
	c := *e
	st := storetest.Open(e.t, "sqlite")
	if err := st.Close(); err != nil {
		e.t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Service: e.svc, Store: st, Kernel: e.k, Promotions: e.book,
		Logger: slog.New(slog.NewJSONHandler(e.logs, nil))}).Handler())
	e.t.Cleanup(srv.Close)
	c.srv = srv
	return &c
}

// principalIn creates a principal at an organisation node through the API
// and returns its token.
func (e *env) principalIn(id, org string, roles ...string) string {
	e.t.Helper()
	r := e.do("POST", "/v1/admin/principals", adminToken, map[string]any{"id": id, "roles": roles, "org": org})
	expect(e.t, r, 201, "")
	return decodeJSON[api.PrincipalCreated](e.t, r).Token
}

// orgPaths are the paths of a page of organisation nodes.
func orgPaths(t *testing.T, r reply) []string {
	t.Helper()
	expect(t, r, 200, "")
	var paths []string
	for _, o := range decodeJSON[api.OrgList](t, r).Items {
		paths = append(paths, o.Path)
	}
	return paths
}

// raceOnly are documented statuses that only a race gives: a decrease of
// sellable stock that reservations committing meanwhile made impossible.
var raceOnly = map[string][]int{"PUT /v1/stock/{sku}": {409}}

// docs/api.md's table of error codes lists every code with its status.
func TestGuideListsEveryProblemCode(t *testing.T) {
	raw, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range api.Codes() {
		row := fmt.Sprintf("| `%s` | %d", code, api.StatusOf(code))
		if !strings.Contains(string(raw), row) {
			t.Errorf("docs/api.md lacks the row %q…", row)
		}
	}
}
