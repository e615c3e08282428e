package api_test

import (
	"encoding/json"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// absent, as an expected value of an audited field, means the field is not
// in the document.
type absentField struct{}

var absent = absentField{}

// auditCase is one admin write and the audit entry it must leave: for a
// success exactly one new entry, about the target, with the action, verb
// and the given fields of before and after (a nil map: that side is null);
// for a refusal no entry at all.
type auditCase struct {
	name    string
	prepare func(t *testing.T) // before the request, when set
	token   string             // adminToken when empty
	actor   string             // "root" when empty
	method  string
	path    string
	body    any
	headers []string
	status  int
	code    string // the problem code of a refusal

	targetType, targetID string
	action, verb         string
	// before and after map dotted paths ("promotion.params.basisPoints",
	// "channels.0.mode") to the values the entry must hold there.
	before, after map[string]any
}

// Every admin write outside identities and bizpacks records one audit entry
// with who, what, and the target before and after, in the entry's own
// transaction or after the change; a refused write records none, and no
// entry holds a token.
func TestAuditAdminWrites(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		// A policy read from a directory, so that a reload can be refused.
		dir := t.TempDir()
		if err := os.CopyFS(dir, authz.DefaultPolicy()); err != nil {
			t.Fatal(err)
		}
		pol, err := authz.New(t.Context(), authz.Options{Source: dir, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, st, func(c *api.Config) { c.Policy = pol })
		deputyToken := e.principal("deputy", "admin")
		tokens := []string{adminToken, deputyToken}

		mug := map[string]any{"title": "Mug", "price": 1000, "currency": "CNY", "category": "kitchen"}
		mugs := map[string]any{"name": "10% off mugs", "kind": "percent_off", "group": "g", "currency": "CNY", "enabled": true,
			"conditions": map[string]any{"skus": []string{"mug"}}, "params": map[string]any{"basisPoints": 1000}, "budget": 5000}
		mugsV1 := map[string]any{"version": 1}
		for k, v := range mugs {
			mugsV1[k] = v
		}
		mugsV1["params"] = map[string]any{"basisPoints": 2000}
		vouchers := map[string]any{"name": "vouchers", "kind": "amount_off", "group": "v", "currency": "CNY", "enabled": true,
			"couponRequired": true, "params": map[string]any{"amount": 100}}

		cases := []auditCase{
			// SKUs.
			{name: "sku created", method: "PUT", path: "/v1/skus/mug", body: mug, status: 200,
				targetType: "sku", targetID: "mug", action: api.ActionSKUsWrite, verb: "create",
				after: map[string]any{"sku": "mug", "title": "Mug", "price": 1000}},
			{name: "sku updated", method: "PUT", path: "/v1/skus/mug", body: with(mug, "price", 1200), status: 200,
				targetType: "sku", targetID: "mug", action: api.ActionSKUsWrite, verb: "update",
				before: map[string]any{"price": 1000}, after: map[string]any{"price": 1200, "title": "Mug"}},
			{name: "sku refused: no title", method: "PUT", path: "/v1/skus/mug", body: with(mug, "title", ""), status: 400,
				code: "invalid_request"},

			// Stock, channels, buckets.
			{name: "stock set", method: "PUT", path: "/v1/stock/mug", body: `{"sellable":10,"reason":"delivery"}`, status: 200,
				targetType: "stock", targetID: "mug", action: api.ActionStockWrite, verb: "update",
				after: map[string]any{"location": "default", "sellable": 10, "reserved": 0}},
			{name: "stock lowered", method: "PUT", path: "/v1/stock/mug", body: `{"sellable":4}`, status: 200,
				targetType: "stock", targetID: "mug", action: api.ActionStockWrite, verb: "update",
				before: map[string]any{"sellable": 10}, after: map[string]any{"sellable": 4}},
			{name: "stock refused: unknown sku", method: "PUT", path: "/v1/stock/nope", body: `{"sellable":4}`, status: 404,
				code: "sku_not_found"},
			{name: "stock refused: negative", method: "PUT", path: "/v1/stock/mug", body: `{"sellable":-1}`, status: 400,
				code: "invalid_request"},
			{name: "channel set", method: "PUT", path: "/v1/stock/mug/channels/app", body: `{"mode":"mutex","quantity":2}`,
				status: 200, targetType: "stock", targetID: "mug", action: api.ActionStockWrite, verb: "set-channel",
				before: map[string]any{"channel": "app", "sellable": 4, "channels": absent},
				after:  map[string]any{"channel": "app", "sellable": 4, "channels.0.channel": "app", "channels.0.mode": "mutex"}},
			{name: "channel refused: bad mode", method: "PUT", path: "/v1/stock/mug/channels/app", body: `{"mode":"greedy","quantity":2}`,
				status: 400, code: "invalid_request"},
			{name: "channel removed", method: "DELETE", path: "/v1/stock/mug/channels/app?mode=mutex", status: 200,
				targetType: "stock", targetID: "mug", action: api.ActionStockWrite, verb: "remove-channel",
				before: map[string]any{"channel": "app", "channels.0.mode": "mutex"},
				after:  map[string]any{"channel": "app", "sellable": 4, "channels": absent}},
			{name: "buckets split", method: "PUT", path: "/v1/stock/mug/buckets", body: `{"buckets":4}`, status: 200,
				targetType: "stock", targetID: "mug", action: api.ActionStockWrite, verb: "split-buckets",
				before: map[string]any{"buckets": 0, "channel": absent}, after: map[string]any{"buckets": 4, "sellable": 4}},
			{name: "buckets merged", method: "PUT", path: "/v1/stock/mug/buckets", body: `{"buckets":0}`, status: 200,
				targetType: "stock", targetID: "mug", action: api.ActionStockWrite, verb: "merge-buckets",
				before: map[string]any{"buckets": 4}, after: map[string]any{"buckets": 0, "sellable": 4}},
			{name: "buckets refused: too many", method: "PUT", path: "/v1/stock/mug/buckets", body: `{"buckets":100000}`, status: 400,
				code: "invalid_request"},

			// Locations, by another administrator.
			{name: "location created", token: deputyToken, actor: "deputy", method: "PUT", path: "/v1/locations/sh",
				body: `{"regions":["CN-31"],"priority":5}`, status: 200,
				targetType: "location", targetID: "sh", action: api.ActionStockWrite, verb: "create",
				after: map[string]any{"name": "sh", "regions": []string{"CN-31"}, "priority": 5}},
			{name: "location updated", token: deputyToken, actor: "deputy", method: "PUT", path: "/v1/locations/sh",
				body: `{"regions":["CN-31","CN-32"],"priority":7}`, status: 200,
				targetType: "location", targetID: "sh", action: api.ActionStockWrite, verb: "update",
				before: map[string]any{"priority": 5, "regions": []string{"CN-31"}},
				after:  map[string]any{"priority": 7, "regions": []string{"CN-31", "CN-32"}}},
			{name: "location refused: region twice", method: "PUT", path: "/v1/locations/sh", body: `{"regions":["a","a"]}`,
				status: 400, code: "invalid_request"},

			// Principals and the organisation tree.
			{name: "org created", method: "POST", path: "/v1/admin/orgs", body: `{"id":"hq","name":"Head office","kind":"hq"}`,
				status: 201, targetType: "org", targetID: "hq", action: api.ActionOrgsWrite, verb: "create",
				after: map[string]any{"id": "hq", "path": "/hq/", "name": "Head office"}},
			{name: "org created under hq", method: "POST", path: "/v1/admin/orgs", body: `{"id":"east","parent":"hq"}`,
				status: 201, targetType: "org", targetID: "east", action: api.ActionOrgsWrite, verb: "create",
				after: map[string]any{"parent": "hq", "path": "/hq/east/"}},
			{name: "org created: west", method: "POST", path: "/v1/admin/orgs", body: `{"id":"west","parent":"hq"}`,
				status: 201, targetType: "org", targetID: "west", action: api.ActionOrgsWrite, verb: "create",
				after: map[string]any{"path": "/hq/west/"}},
			{name: "org refused: exists", method: "POST", path: "/v1/admin/orgs", body: `{"id":"west"}`, status: 409,
				code: "org_exists"},
			{name: "org moved", method: "POST", path: "/v1/admin/orgs/east/move", body: `{"parent":"west"}`, status: 200,
				targetType: "org", targetID: "east", action: api.ActionOrgsWrite, verb: "move",
				before: map[string]any{"parent": "hq", "path": "/hq/east/"},
				after:  map[string]any{"parent": "west", "path": "/hq/west/east/"}},
			{name: "org move refused: cycle", method: "POST", path: "/v1/admin/orgs/west/move", body: `{"parent":"east"}`,
				status: 409, code: "org_cycle"},
			{name: "org move refused: unknown", method: "POST", path: "/v1/admin/orgs/north/move", body: `{"parent":"hq"}`,
				status: 404, code: "org_not_found"},
			{name: "principal created", method: "POST", path: "/v1/admin/principals",
				body:   `{"id":"alice","roles":["buyer"],"org":"east","attrs":{"tier":"vip"}}`,
				status: 201, targetType: "principal", targetID: "alice", action: api.ActionPrincipalsWrite, verb: "create",
				after: map[string]any{"id": "alice", "roles": []string{"buyer"}, "org": "east", "orgPath": "/hq/west/east/",
					"attrs.tier": "vip", "token": absent, "tokenHash": absent}},
			{name: "principal refused: exists", method: "POST", path: "/v1/admin/principals", body: `{"id":"alice","roles":["buyer"]}`,
				status: 409, code: "principal_exists"},
			{name: "principal refused: unknown role", method: "POST", path: "/v1/admin/principals", body: `{"id":"bob","roles":["king"]}`,
				status: 400, code: "invalid_request"},
			{name: "org created: north", method: "POST", path: "/v1/admin/orgs", body: `{"id":"north","parent":"hq"}`,
				status: 201, targetType: "org", targetID: "north", action: api.ActionOrgsWrite, verb: "create",
				after: map[string]any{"path": "/hq/north/"}},
			{name: "org deleted", method: "DELETE", path: "/v1/admin/orgs/north", status: 204,
				targetType: "org", targetID: "north", action: api.ActionOrgsWrite, verb: "delete",
				before: map[string]any{"id": "north", "path": "/hq/north/"}},
			{name: "org delete refused: gone", method: "DELETE", path: "/v1/admin/orgs/north", status: 404, code: "org_not_found"},
			{name: "org delete refused: in use", method: "DELETE", path: "/v1/admin/orgs/west", status: 409, code: "org_in_use"},

			// Promotions, coupons, budgets, the group order.
			{name: "promotion created", method: "PUT", path: "/v1/admin/promotions/mugs", body: mugs, status: 201,
				targetType: "promotion", targetID: "mugs", action: api.ActionPromotionsWrite, verb: "create",
				after: map[string]any{"promotion.id": "mugs", "promotion.version": 1, "promotion.params.basisPoints": 1000,
					"budget.total": 5000, "budget.remaining": 5000}},
			{name: "promotion updated", method: "PUT", path: "/v1/admin/promotions/mugs", body: mugsV1, status: 200,
				targetType: "promotion", targetID: "mugs", action: api.ActionPromotionsWrite, verb: "update",
				before: map[string]any{"promotion.version": 1, "promotion.params.basisPoints": 1000},
				after:  map[string]any{"promotion.version": 2, "promotion.params.basisPoints": 2000, "budget.total": 5000}},
			{name: "promotion refused: stale version", method: "PUT", path: "/v1/admin/promotions/mugs", body: mugsV1, status: 409,
				code: "version_conflict"},
			{name: "promotion refused: invalid", method: "PUT", path: "/v1/admin/promotions/bad",
				body: `{"kind":"percent_off","group":"g","currency":"CNY","params":{"basisPoints":0}}`, status: 422,
				code: "promotion_invalid"},
			{name: "budget topped up", method: "POST", path: "/v1/admin/promotions/mugs/budget", body: `{"amount":1000}`,
				headers: []string{"Idempotency-Key", "top-1"}, status: 200,
				targetType: "promotion", targetID: "mugs", action: api.ActionPromotionsWrite, verb: "top-up",
				before: map[string]any{"total": 5000, "remaining": 5000, "topUp": absent},
				after:  map[string]any{"total": 6000, "remaining": 6000, "topUp": 1000, "key": "top-1"}},
			{name: "top-up refused: no key", method: "POST", path: "/v1/admin/promotions/mugs/budget", body: `{"amount":1000}`,
				status: 400, code: "idempotency_key_missing"},
			{name: "top-up refused: unknown promotion", method: "POST", path: "/v1/admin/promotions/nope/budget",
				body: `{"amount":1000,"key":"top-2"}`, status: 404, code: "promotion_not_found"},
			{name: "voucher promotion created", method: "PUT", path: "/v1/admin/promotions/vouchers", body: vouchers, status: 201,
				targetType: "promotion", targetID: "vouchers", action: api.ActionPromotionsWrite, verb: "create",
				after: map[string]any{"promotion.couponRequired": true}},
			{name: "coupons issued", method: "POST", path: "/v1/admin/promotions/vouchers/coupons",
				body: `{"owner":"alice","codes":["VIP-0001","VIP-0002","V-3"]}`, status: 201,
				targetType: "coupon-batch", targetID: "vouchers", action: api.ActionPromotionsWrite, verb: "issue",
				after: map[string]any{"promotionId": "vouchers", "owner": "alice", "count": 3,
					"codes": []string{"VI*****1", "VI*****2", "***"}}},
			{name: "coupons refused: code twice", method: "POST", path: "/v1/admin/promotions/vouchers/coupons",
				body: `{"codes":["V-4","V-4"]}`, status: 400, code: "invalid_request"},
			{name: "coupons refused: not a coupon promotion", method: "POST", path: "/v1/admin/promotions/mugs/coupons",
				body: `{"codes":["X-1"]}`, status: 422, code: "promotion_invalid"},
			{name: "group order set", method: "PUT", path: "/v1/admin/promotion-groups", body: `{"groups":["v","g"]}`, status: 200,
				targetType: "promotion-groups", action: api.ActionPromotionsWrite, verb: "update",
				before: map[string]any{"groups": []string{}}, after: map[string]any{"groups": []string{"v", "g"}}},
			{name: "group order changed", method: "PUT", path: "/v1/admin/promotion-groups", body: `{"groups":["g"]}`, status: 200,
				targetType: "promotion-groups", action: api.ActionPromotionsWrite, verb: "update",
				before: map[string]any{"groups": []string{"v", "g"}}, after: map[string]any{"groups": []string{"g"}}},
			{name: "group order refused: twice", method: "PUT", path: "/v1/admin/promotion-groups", body: `{"groups":["g","g"]}`,
				status: 422, code: "promotion_invalid"},

			// Credit lines.
			{name: "credit opened", method: "PUT", path: "/v1/admin/credit/agent-1", body: `{"currency":"CNY","limit":10000}`,
				status: 200, targetType: "credit", targetID: "agent-1", action: api.ActionCreditWrite, verb: "create",
				after: map[string]any{"agentId": "agent-1", "creditLimit": 10000, "available": 10000}},
			{name: "credit raised", method: "PUT", path: "/v1/admin/credit/agent-1", body: `{"currency":"CNY","limit":20000}`,
				status: 200, targetType: "credit", targetID: "agent-1", action: api.ActionCreditWrite, verb: "update",
				before: map[string]any{"creditLimit": 10000}, after: map[string]any{"creditLimit": 20000, "available": 20000}},
			{name: "credit refused: other currency", method: "PUT", path: "/v1/admin/credit/agent-1",
				body: `{"currency":"USD","limit":20000}`, status: 422, code: "currency_mismatch"},

			// The policy.
			{name: "policy reloaded", method: "POST", path: "/v1/admin/policies/reload", status: 200,
				targetType: "policy", action: api.ActionPoliciesWrite, verb: "reload",
				before: map[string]any{"source": dir, "revision": 1}, after: map[string]any{"source": dir, "revision": 2}},
			{name: "policy reload refused: broken", method: "POST", path: "/v1/admin/policies/reload", status: 422,
				code: "policy_invalid", prepare: func(t *testing.T) {
					writePolicy(t, dir, "broken.rego", "package tmf.authz\n\nallow if {\n")
				}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := e.with(t)
				if tc.prepare != nil {
					tc.prepare(t)
				}
				token := cmpOr(tc.token, adminToken)
				was := e.auditAll()
				r := e.do(tc.method, tc.path, token, tc.body, tc.headers...)
				expect(t, r, tc.status, tc.code)
				var created struct{ Token string }
				if json.Unmarshal(r.raw, &created) == nil && created.Token != "" {
					tokens = append(tokens, created.Token)
				}
				now := e.auditAll()
				if tc.status >= 400 {
					if len(now) != len(was) {
						added, _ := json.Marshal(now[:max(0, len(now)-len(was))])
						t.Fatalf("a refused write recorded %d audit entries: %s", len(now)-len(was), added)
					}
					return
				}
				if len(now) != len(was)+1 {
					t.Fatalf("the write recorded %d audit entries, not 1", len(now)-len(was))
				}
				got := now[0]
				about := e.auditOf(tc.targetType, tc.targetID)
				if len(about) == 0 || about[0].ID != got.ID {
					t.Fatalf("the new entry %+v is not the newest about %s %q", got, tc.targetType, tc.targetID)
				}
				if got.Actor != cmpOr(tc.actor, "root") || got.Action != tc.action || got.Verb != tc.verb ||
					got.TargetType != tc.targetType || got.TargetID != tc.targetID {
					t.Errorf("entry %s %s %s %s %q; want %s %s %s %s %q", got.Actor, got.Action, got.Verb, got.TargetType, got.TargetID,
						cmpOr(tc.actor, "root"), tc.action, tc.verb, tc.targetType, tc.targetID)
				}
				if got.TraceID == "" || got.TraceID != r.header.Get(api.HeaderRequestID) {
					t.Errorf("entry trace id %q, answer's %q", got.TraceID, r.header.Get(api.HeaderRequestID))
				}
				if got.At.IsZero() {
					t.Errorf("entry without a time: %+v", got)
				}
				checkAudited(t, "before", got.Before, tc.before)
				checkAudited(t, "after", got.After, tc.after)
			})
		}

		// No entry holds a token, a token's hash, or the word.
		for _, en := range e.auditAll() {
			raw, err := json.Marshal(en)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(strings.ToLower(string(raw)), "token") {
				t.Errorf("entry %s mentions a token", raw)
			}
			for _, tok := range tokens {
				if strings.Contains(string(raw), tok) || strings.Contains(string(raw), api.TokenHash(tok)) {
					t.Errorf("entry %s holds a token or its hash", raw)
				}
			}
		}
	})
}

// with is a copy of m with k set to v.
func with(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}

func cmpOr(v, or string) string {
	if v == "" {
		return or
	}
	return v
}

// checkAudited checks one side of an entry: null when want is nil, else a
// document holding want's values at their dotted paths.
func checkAudited(t *testing.T, side string, raw json.RawMessage, want map[string]any) {
	t.Helper()
	null := len(raw) == 0 || string(raw) == "null"
	if want == nil {
		if !null {
			t.Errorf("%s is %s; want null", side, raw)
		}
		return
	}
	if null {
		t.Errorf("%s is null; want %v", side, want)
		return
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s %s: %v", side, raw, err)
	}
	for path, w := range want {
		got, ok := lookup(doc, path)
		if w == absent {
			if ok {
				t.Errorf("%s.%s is %v; want it absent (in %s)", side, path, got, raw)
			}
			continue
		}
		if !ok {
			t.Errorf("%s.%s is absent; want %v (in %s)", side, path, w, raw)
			continue
		}
		if norm := normal(t, w); !reflect.DeepEqual(got, norm) {
			t.Errorf("%s.%s is %v; want %v (in %s)", side, path, got, norm, raw)
		}
	}
}

// lookup follows a dotted path of object keys and array indexes.
func lookup(doc any, path string) (any, bool) {
	cur := doc
	for key := range strings.SplitSeq(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[key]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// normal is v as it reads back from JSON (numbers as float64, slices as
// []any).
func normal(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// auditOf lists the entries about a target, newest first (the first page);
// an empty id lists every entry of the type.
func (e *env) auditOf(targetType, targetID string) []store.AuditEntry {
	e.t.Helper()
	q := url.Values{"targetType": {targetType}}
	if targetID != "" {
		q.Set("targetId", targetID)
	}
	return e.auditPage(q).Items
}

// auditAll lists every entry, newest first, following the cursor.
func (e *env) auditAll() []store.AuditEntry {
	e.t.Helper()
	var all []store.AuditEntry
	q := url.Values{}
	for range 100 {
		page := e.auditPage(q)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		q.Set("cursor", page.NextCursor)
	}
	e.t.Fatal("the audit cursor never ends")
	return nil
}

// auditPage reads GET /v1/admin/audit as the administrator.
func (e *env) auditPage(q url.Values) api.AuditList {
	e.t.Helper()
	r := e.do("GET", "/v1/admin/audit?"+q.Encode(), adminToken, nil)
	expect(e.t, r, 200, "")
	return decodeJSON[api.AuditList](e.t, r)
}
