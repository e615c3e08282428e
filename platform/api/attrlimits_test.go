package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
	"github.com/tmf-platform/tmf/products/standardretail"
	"github.com/tmf-platform/tmf/products/virtualgoods"
)

// seenAttrs records what the attrpack bizpack's points were given.
type seenAttrs struct {
	mu       sync.Mutex
	validate []map[string]any
	guard    []map[string]any
}

func ptr[T any](v T) *T { return &v }

// attrBizpack declares a top-up's attributes (as the virtual-topup example
// does) and records the attributes order.validate and order.guard see.
func attrBizpack(seen *seenAttrs) kernel.Bizpack {
	return kernel.Bizpack{Name: "attrpack", Version: "1",
		Attributes: &extensions.AttributeSchema{Type: "object", Required: []string{"phone"},
			Properties: map[string]extensions.AttributeProperty{
				"phone":   {Type: extensions.AttrString, Pattern: `^\+[1-9][0-9]{6,14}$`, Searchable: true},
				"note":    {Type: extensions.AttrString, MaxLength: ptr(20)},
				"count":   {Type: extensions.AttrInteger, Minimum: ptr(1.0), Maximum: ptr(10.0), Searchable: true},
				"carrier": {Type: extensions.AttrString, Enum: []any{"cmcc", "unicom"}},
				"gift":    {Type: extensions.AttrBoolean},
			}},
		Impls: []kernel.Implementation{
			order.Validate.Impl("attrpack.validate", func(ctx context.Context, req extensions.ValidateRequest) (extensions.Verdict, error) {
				seen.mu.Lock()
				seen.validate = append(seen.validate, req.Attributes)
				seen.mu.Unlock()
				return extensions.Allow(), nil
			}),
			order.Guard.Impl("attrpack.guard", func(ctx context.Context, req extensions.GuardRequest) (extensions.Verdict, error) {
				seen.mu.Lock()
				seen.guard = append(seen.guard, req.Attributes)
				seen.mu.Unlock()
				return extensions.Allow(), nil
			}),
		}}
}

// attrLimitConfig is testConfig with two identities more, resolved by SKU
// category: "topup.attr" (virtual-goods and attrpack) for category
// attrtopup, and "limited" (standard-retail with purchase limits) for
// category limited: lim-1 once per buyer for life, at most 2 of a SKU per
// order, at most 3 of the category per buyer and day.
func attrLimitConfig() kernel.Config {
	cfg := testConfig()
	cfg.Revision = 2
	cfg.Identities = append(cfg.Identities,
		kernel.IdentitySpec{Code: "topup.attr", Products: []kernel.ProductRef{{Name: virtualgoods.Name}},
			Bizpacks: []kernel.BizpackRef{{Name: "attrpack"}}},
		kernel.IdentitySpec{Code: "limited", Products: []kernel.ProductRef{{Name: standardretail.Name}},
			PurchaseLimits: []kernel.PurchaseLimit{
				{Name: "one-per-buyer", Scope: kernel.LimitScopeSKU, SKUs: []string{"lim-1"}, Window: kernel.LimitWindowLifetime, Max: 1},
				{Name: "per-order", Scope: kernel.LimitScopeSKU, Window: kernel.LimitWindowOrder, Max: 2},
				{Name: "daily", Scope: kernel.LimitScopeCategory, Window: kernel.LimitWindowDay, Max: 3},
			}})
	cfg.Rules = append([]identity.Rule{{Identity: "topup.attr", Category: "attrtopup"}, {Identity: "limited", Category: "limited"}}, cfg.Rules...)
	return cfg
}

// newAttrEnv is newEnv with attrpack registered and attrLimitConfig
// applied, without rate limits or unpaid caps (the race test's buyer holds
// many unpaid orders at once).
func newAttrEnv(t *testing.T, st *store.Store) (*env, *seenAttrs) {
	t.Helper()
	seen := &seenAttrs{}
	reg := prometheus.NewRegistry()
	book := promotion.NewBook(nil)
	cat, impls, err := catalog.NewWith(catalog.Sources{Promotions: book})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []kernel.Bizpack{faultyBizpack(), attrBizpack(seen)} {
		if err := impls.PutBizpack(b); err != nil {
			t.Fatal(err)
		}
	}
	k, err := kernel.New(cat, impls, kernel.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Apply(attrLimitConfig()); err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePrincipal(t.Context(), store.Principal{ID: "root", Roles: "admin", TokenHash: api.TokenHash(adminToken)}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, k: k, svc: order.NewService(k, st, order.WithPromotions(book)), book: book,
		logs: &lockedBuffer{}, reg: reg, ready: &atomic.Pointer[error]{}, seen: &coverage{}}
	pol, err := authz.New(t.Context(), authz.Options{Source: testPolicy(t), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{Service: e.svc, Store: st, Kernel: k, Promotions: book, Policy: pol,
		Logger: slog.New(slog.NewJSONHandler(e.logs, nil)), Gatherer: reg, Registerer: reg,
		Ready: func(context.Context) error { return nil }}
	cfg.Limits.MaxUnpaidOrders, cfg.Limits.MaxUnpaidQuantity = -1, -1
	e.srv = httptest.NewServer(api.New(cfg).Handler())
	t.Cleanup(e.srv.Close)
	e.client = e.srv.Client()
	t.Cleanup(e.client.CloseIdleConnections)
	return e, seen
}

func topupBody(attrs any) map[string]any {
	b := map[string]any{"items": []map[string]any{{"sku": "attr-topup", "quantity": 1}}}
	if attrs != nil {
		b["attributes"] = attrs
	}
	return b
}

func TestOrderAttributes(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e, seen := newAttrEnv(t, st)
		e.sku("attr-topup", 5000, "attrtopup", true, 1000)
		e.sku("plain", 1000, "kitchen", false, 1000)
		alice := e.principal("alice", "buyer")
		n := 0
		place := func(body any) reply {
			n++
			return e.do("POST", "/v1/orders", alice, body, "Idempotency-Key", fmt.Sprintf("attr-%d", n))
		}

		valid := map[string]any{"phone": "+8613800000001", "note": "for mum", "count": 2, "carrier": "cmcc", "gift": true}
		r := place(topupBody(valid))
		expect(t, r, 201, "")
		placed := decodeView(t, r)
		if placed.BizCode != "topup.attr" {
			t.Fatalf("resolved to %s", placed.BizCode)
		}
		want := map[string]any{"phone": "+8613800000001", "note": "for mum", "count": float64(2), "carrier": "cmcc", "gift": true}
		checkAttrs := func(what string, got map[string]any) {
			t.Helper()
			b, _ := json.Marshal(got)
			var norm map[string]any
			_ = json.Unmarshal(b, &norm)
			wb, _ := json.Marshal(want)
			nb, _ := json.Marshal(norm)
			if string(wb) != string(nb) {
				t.Fatalf("%s: attributes %s, want %s", what, nb, wb)
			}
		}
		checkAttrs("placement answer", placed.Attributes)
		checkAttrs("GET", decodeView(t, e.do("GET", "/v1/orders/"+placed.ID, alice, nil)).Attributes)

		// The points saw them.
		seen.mu.Lock()
		lastValidate, lastGuard := seen.validate[len(seen.validate)-1], seen.guard[len(seen.guard)-1]
		seen.mu.Unlock()
		checkAttrs("order.validate", lastValidate)
		checkAttrs("order.guard", lastGuard)
		// A later transition's guard sees them too.
		e.fire(alice, placed.ID, "cancel", nil)
		seen.mu.Lock()
		lastGuard = seen.guard[len(seen.guard)-1]
		seen.mu.Unlock()
		checkAttrs("order.guard of cancel", lastGuard)

		// The order.placed event carries them.
		var payloads []string
		if err := st.DB(t.Context()).Raw("SELECT payload FROM tmf_outbox_events WHERE aggregate_id = ? AND topic = ?",
			placed.ID, order.TopicPlaced).Scan(&payloads).Error; err != nil || len(payloads) != 1 {
			t.Fatalf("order.placed events: %v %v", payloads, err)
		}
		var ev struct{ Attributes map[string]any }
		if err := json.Unmarshal([]byte(payloads[0]), &ev); err != nil {
			t.Fatal(err)
		}
		checkAttrs("order.placed", ev.Attributes)

		// Refusals name the field, and write nothing.
		for _, tc := range []struct {
			name  string
			attrs any
			code  string
			field string
		}{
			{"pattern", map[string]any{"phone": "555-1234"}, order.CodeAttributeInvalid, "attributes.phone"},
			{"required", map[string]any{"note": "x"}, order.CodeAttributeInvalid, "attributes.phone"},
			{"no attributes, one required", nil, order.CodeAttributeInvalid, "attributes.phone"},
			{"type", map[string]any{"phone": "+8613800000001", "count": "2"}, order.CodeAttributeInvalid, "attributes.count"},
			{"maximum", map[string]any{"phone": "+8613800000001", "count": 11}, order.CodeAttributeInvalid, "attributes.count"},
			{"not an integer", map[string]any{"phone": "+8613800000001", "count": 1.5}, order.CodeAttributeInvalid, "attributes.count"},
			{"enum", map[string]any{"phone": "+8613800000001", "carrier": "other"}, order.CodeAttributeInvalid, "attributes.carrier"},
			{"maxLength", map[string]any{"phone": "+8613800000001", "note": strings.Repeat("n", 21)}, order.CodeAttributeInvalid, "attributes.note"},
			{"unknown", map[string]any{"phone": "+8613800000001", "color": "red"}, order.CodeAttributeUnknown, "attributes.color"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.with(t).do("POST", "/v1/orders", alice, topupBody(tc.attrs), "Idempotency-Key", "bad-"+tc.name)
				expect(t, r, 400, tc.code)
				if f := r.json(t)["field"]; f != tc.field {
					t.Fatalf("field %v, want %s: %s", f, tc.field, r)
				}
			})
		}
		// An identity that declares nothing takes no attributes.
		body := retailBody("plain", 1)
		body["attributes"] = map[string]any{"phone": "+8613800000001"}
		expect(t, place(body), 400, order.CodeAttributeUnknown)
		// Too many.
		many := map[string]any{}
		for i := range 40 {
			many[fmt.Sprintf("a%d", i)] = "x"
		}
		expect(t, place(topupBody(many)), 400, order.CodeAttributeInvalid)
		if all := e.orders(adminToken, "", 100); len(all) != 1 {
			t.Fatalf("%d orders after refusals, want 1", len(all))
		}

		// Searchable attributes filter lists; others are refused.
		second := decodeView(t, place(topupBody(map[string]any{"phone": "+8613800000002", "count": 5})))
		q := "&attr.phone=" + url.QueryEscape("+8613800000001")
		if got := e.orders(adminToken, q, 1); len(got) != 1 || got[0].ID != placed.ID {
			t.Fatalf("attr.phone lists %v", got)
		}
		if got := e.orders(alice, "&attr.count=5.0&bizCode=topup.attr", 10); len(got) != 1 || got[0].ID != second.ID {
			t.Fatalf("attr.count=5.0 lists %v", got)
		}
		if got := e.orders(adminToken, "&attr.phone=%2B999", 10); len(got) != 0 {
			t.Fatalf("unknown phone lists %v", got)
		}
		r = e.do("GET", "/v1/orders?attr.note=for%20mum", adminToken, nil)
		expect(t, r, 400, order.CodeAttributeNotSearchable)
		r = e.do("GET", "/v1/orders?attr.phone=x&bizCode=retail", adminToken, nil)
		expect(t, r, 400, order.CodeAttributeNotSearchable)
	})
}

// limitedBody is an order of the "limited" identity.
func limitedBody(items ...any) map[string]any {
	var lines []map[string]any
	for i := 0; i+1 < len(items); i += 2 {
		lines = append(lines, map[string]any{"sku": items[i], "quantity": items[i+1]})
	}
	return map[string]any{"items": lines, "shippingAddress": map[string]any{"region": "CN-31", "city": "Shanghai", "line1": "1 Bund"}}
}

func TestPurchaseLimits(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e, _ := newAttrEnv(t, st)
		e.sku("lim-1", 1000, "limited", false, 100)
		e.sku("lim-2", 1000, "limited", false, 100)
		e.sku("lim-3", 1000, "limited", false, 0)
		alice, bob := e.principal("alice", "buyer"), e.principal("bob", "buyer")
		n := 0
		place := func(token string, body any) reply {
			n++
			return e.do("POST", "/v1/orders", token, body, "Idempotency-Key", fmt.Sprintf("lim-%d", n))
		}
		refused := func(r reply, limitName string, used, requested float64) {
			t.Helper()
			expect(t, r, 409, order.CodePurchaseLimit)
			p := r.json(t)
			if p["limitName"] != limitName || p["used"] != used || p["requested"] != requested {
				t.Fatalf("refusal %s; want limit %s used %v requested %v", r, limitName, used, requested)
			}
		}

		first := place(alice, limitedBody("lim-1", 1))
		expect(t, first, 201, "")
		one := decodeView(t, first)
		r := place(alice, limitedBody("lim-1", 1))
		refused(r, "one-per-buyer", 1, 1)
		if p := r.json(t); p["sku"] != "lim-1" || p["limit"] != float64(1) {
			t.Fatalf("refusal names %v", p)
		}
		expect(t, place(bob, limitedBody("lim-1", 1)), 201, "") // another buyer has their own

		// Cancelled, the order gives its unit back once; a second cancel
		// is not allowed and gives nothing.
		e.fire(alice, one.ID, "cancel", nil)
		two := decodeView(t, place(alice, limitedBody("lim-1", 1)))
		refused(place(alice, limitedBody("lim-1", 1)), "one-per-buyer", 1, 1)

		// Timed out, likewise.
		if _, err := e.svc.TimeOut(t.Context(), two.ID, "system"); err != nil {
			t.Fatal(err)
		}
		expect(t, place(alice, limitedBody("lim-1", 1)), 201, "")
		if used, err := st.PurchaseUsed(t.Context(), "limited/one-per-buyer", "alice", "sku:lim-1", "lifetime"); err != nil || used != 1 {
			t.Fatalf("alice's lim-1 counter %d %v, want 1", used, err)
		}

		// Per order: nothing counted.
		refused(place(alice, limitedBody("lim-2", 3)), "per-order", 0, 3)
		// Per category and day: lim-1 counted 1 of 3 today (two given back).
		expect(t, place(alice, limitedBody("lim-2", 2)), 201, "")
		r = place(alice, limitedBody("lim-2", 1))
		refused(r, "daily", 3, 1)
		if p := r.json(t); p["category"] != "limited" || p["window"] != "day:"+time.Now().UTC().Format(time.DateOnly) {
			t.Fatalf("daily refusal %v", p)
		}

		// A placement refused for another reason counts nothing.
		expect(t, place(bob, limitedBody("lim-3", 1)), 409, order.CodeOutOfStock)
		if used, _ := st.PurchaseUsed(t.Context(), "limited/daily", "bob", "category:limited", "day:"+time.Now().UTC().Format(time.DateOnly)); used != 1 {
			t.Fatalf("bob's daily counter %d after an out-of-stock order, want 1", used)
		}
	})
}

// TestPurchaseLimitRace: 50 concurrent orders of one buyer for a SKU
// limited to one per buyer place exactly one order, on every database.
func TestPurchaseLimitRace(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e, _ := newAttrEnv(t, st)
		e.sku("lim-1", 1000, "limited", false, 1000)
		alice := e.principal("alice", "buyer")
		const racers = 50
		var wg sync.WaitGroup
		codes := make([]string, racers)
		statuses := make([]int, racers)
		start := make(chan struct{})
		for i := range racers {
			wg.Go(func() {
				<-start
				r := e.do("POST", "/v1/orders", alice, limitedBody("lim-1", 1), "Idempotency-Key", fmt.Sprintf("race-%d", i))
				statuses[i], codes[i] = r.status, r.code()
			})
		}
		close(start)
		wg.Wait()
		created := 0
		for i := range racers {
			switch {
			case statuses[i] == 201:
				created++
			case statuses[i] == 409 && codes[i] == order.CodePurchaseLimit:
			default:
				t.Errorf("racer %d: %d %s", i, statuses[i], codes[i])
			}
		}
		if created != 1 {
			t.Fatalf("%d orders placed, want exactly 1", created)
		}
		if all := e.orders(adminToken, "", 100); len(all) != 1 {
			t.Fatalf("%d orders stored, want 1", len(all))
		}
		if s := e.stock("lim-1"); s.Reserved != 1 {
			t.Fatalf("stock %+v, want 1 reserved", s)
		}
	})
}
