package api_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/domains/fulfilment"
	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/api"
	ful "github.com/tmf-platform/tmf/platform/fulfilment"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
	"github.com/tmf-platform/tmf/platform/webhooks"
)

const supplierSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// signed returns the Standard Webhooks headers of body, signed at ts.
func signed(t *testing.T, id string, ts time.Time, body, secret string) []string {
	t.Helper()
	sig, err := webhooks.Sign(id, ts, []byte(body), secret)
	if err != nil {
		t.Fatal(err)
	}
	return []string{webhooks.HeaderID, id, webhooks.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10), webhooks.HeaderSignature, sig}
}

// A supplier's signed callback moves an order from fulfilling; bad
// signatures, stale timestamps, unknown suppliers and replays are refused
// or ignored; after the deadline the order is refunded and a late success
// is listed for an operator.
func TestFulfilmentCallbacks(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		var now atomic.Int64
		now.Store(time.Now().UTC().Truncate(time.Second).UnixNano())
		clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
		var worker *ful.Service
		e := newEnv(t, st, func(cfg *api.Config) {
			f, err := ful.New(cfg.Service, cfg.Kernel, cfg.Store, ful.Options{Now: clock, Suppliers: map[string]string{"acme": supplierSecret}})
			if err != nil {
				t.Fatal(err)
			}
			worker, cfg.Fulfilment = f, f
		})
		e.svc.SetClock(clock)
		pending := func(_ context.Context, r extensions.FulfilmentRequest) (extensions.FulfilmentAnswer, error) {
			return extensions.FulfilmentAnswer{Outcome: extensions.FulfilmentPending, Supplier: "acme", Reference: "A-" + r.OrderID}, nil
		}
		if err := e.k.Registry().PutBizpack(kernel.Bizpack{Name: "acme", Version: "1", Impls: []kernel.Implementation{
			fulfilment.Dispatch.Impl("acme.dispatch", pending), fulfilment.Query.Impl("acme.query", pending)}}); err != nil {
			t.Fatal(err)
		}
		cfg := testConfig()
		cfg.Revision = 2
		for i := range cfg.Identities {
			if cfg.Identities[i].Code == "virtual.topup" {
				cfg.Identities[i].Bizpacks = []kernel.BizpackRef{{Name: "acme"}}
				cfg.Identities[i].Fulfilment = &kernel.FulfilmentSpec{Deadline: kernel.Duration(30 * time.Minute), PollEvery: kernel.Duration(time.Minute)}
			}
		}
		if _, err := e.k.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		e.sku("topup-50", 4980, "topup", true, 100)
		alice := e.principal("alice", "buyer")
		paid := func(key string) string {
			r := e.do("POST", "/v1/orders", alice, `{"items":[{"sku":"topup-50","quantity":1}],"paymentMethod":"card"}`, "Idempotency-Key", key)
			expect(t, r, 201, "")
			v := decodeView(t, r)
			r = e.pay(alice, v.ID, "pay-"+key, payment.CardApproved)
			expect(t, r, 200, "")
			if _, err := worker.Sweep(t.Context()); err != nil {
				t.Fatal(err)
			}
			got := decodeView(t, e.do("GET", "/v1/orders/"+v.ID, alice, nil))
			if got.Status != "fulfilling" || len(got.AvailableEvents) != 0 {
				t.Fatalf("paid order: %s, events %v", got.Status, got.AvailableEvents)
			}
			return v.ID
		}
		id := paid("o1")
		ok := fmt.Sprintf(`{"orderId":%q,"outcome":"fulfilled","reference":"A-1"}`, id)
		path := "/v1/fulfilment/callbacks/acme"
		ts := clock()
		// The callback checks the signature with the real clock.
		wall := time.Now()
		other := "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
		cases := []struct {
			name, path, body string
			headers          []string
			status           int
			code             string
		}{
			{"no signature", path, ok, nil, 401, api.CodeSignatureInvalid},
			{"another secret", path, ok, signed(t, "m0", wall, ok, other), 401, api.CodeSignatureInvalid},
			{"stale timestamp", path, ok, signed(t, "m0", wall.Add(-10*time.Minute), ok, supplierSecret), 401, api.CodeSignatureInvalid},
			{"body changed", path, ok, signed(t, "m0", wall, ok+" ", supplierSecret), 401, api.CodeSignatureInvalid},
			{"unknown supplier", "/v1/fulfilment/callbacks/nobody", ok, signed(t, "m0", wall, ok, supplierSecret), 401, api.CodeSignatureInvalid},
			{"malformed", path, `{"orderId":1}`, signed(t, "m0", wall, `{"orderId":1}`, supplierSecret), 400, api.CodeInvalidRequest},
			{"unknown outcome", path, `{"orderId":"x","outcome":"maybe"}`, signed(t, "m0", wall, `{"orderId":"x","outcome":"maybe"}`, supplierSecret), 400, api.CodeInvalidRequest},
			{"no such order", path, `{"orderId":"o-none","outcome":"fulfilled"}`, signed(t, "m0", wall, `{"orderId":"o-none","outcome":"fulfilled"}`, supplierSecret), 404, api.CodeFulfilmentNotFound},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				expect(t, e.with(t).do("POST", c.path, "", c.body, c.headers...), c.status, c.code)
			})
		}
		if s := decodeView(t, e.do("GET", "/v1/orders/"+id, alice, nil)).Status; s != "fulfilling" {
			t.Fatalf("refused callbacks moved the order: %s", s)
		}
		expect(t, e.do("POST", "/v1/orders/"+id+"/events", adminToken, `{"event":"fulfil"}`), 409, api.CodeFulfilmentBySupplier)

		headers := signed(t, "m1", wall, ok, supplierSecret)
		r := e.do("POST", path, "", ok, headers...)
		expect(t, r, 200, "")
		res := decodeJSON[ful.CallbackResult](t, r)
		if res.Status != "fulfilled" || res.Duplicate || res.Late {
			t.Fatalf("first callback: %+v", res)
		}
		// A replay of the same message, and the same answer again.
		for _, h := range [][]string{headers, signed(t, "m2", wall, ok, supplierSecret)} {
			res = decodeJSON[ful.CallbackResult](t, e.do("POST", path, "", ok, h...))
			if res.Status != "fulfilled" || !res.Duplicate {
				t.Fatalf("again: %+v", res)
			}
		}
		failed := fmt.Sprintf(`{"orderId":%q,"outcome":"failed"}`, id)
		expect(t, e.do("POST", path, "", failed, signed(t, "m3", wall, failed, supplierSecret)...), 409, api.CodeFulfilmentConflict)

		// The deadline passes: refunded, then the supplier succeeds late.
		late := paid("o2")
		now.Add(int64(31 * time.Minute))
		if _, err := worker.Sweep(t.Context()); err != nil {
			t.Fatal(err)
		}
		if s := decodeView(t, e.do("GET", "/v1/orders/"+late, alice, nil)).Status; s != "fulfil_failed" {
			t.Fatalf("after the deadline: %s", s)
		}
		_ = ts
		body := fmt.Sprintf(`{"orderId":%q,"outcome":"fulfilled","reference":"A-late"}`, late)
		res = decodeJSON[ful.CallbackResult](t, e.do("POST", path, "", body, signed(t, "m4", wall, body, supplierSecret)...))
		if res.Status != "fulfil_failed" || !res.Late {
			t.Fatalf("late callback: %+v", res)
		}
		list := decodeJSON[struct {
			Items []store.Fulfilment `json:"items"`
		}](t, e.do("GET", "/v1/admin/fulfilment/late", adminToken, nil))
		if len(list.Items) != 1 || list.Items[0].OrderID != late || list.Items[0].LateReference != "A-late" {
			t.Fatalf("late list: %+v", list)
		}
		expect(t, e.do("GET", "/v1/admin/fulfilment/late", alice, nil), 403, api.CodeForbidden)

		// The work rows by state: one delivered, one refunded, one still
		// fulfilling (the supplier has not answered).
		stuck := paid("o3")
		rows := func(query string) []string {
			t.Helper()
			r := e.do("GET", "/v1/admin/fulfilment"+query, adminToken, nil)
			expect(t, r, 200, "")
			page := decodeJSON[struct {
				Items      []store.Fulfilment `json:"items"`
				NextCursor string             `json:"nextCursor"`
			}](t, r)
			var ids []string
			for _, it := range page.Items {
				ids = append(ids, it.OrderID+":"+it.State)
			}
			if page.NextCursor != "" {
				ids = append(ids, "next="+page.NextCursor)
			}
			return ids
		}
		sorted := []string{id, late, stuck}
		slices.Sort(sorted)
		states := map[string]string{id: "fulfilled", late: "failed", stuck: "waiting"}
		for _, c := range []struct{ query, want string }{
			{"?state=failed", late + ":failed"},
			{"?state=dispatch,waiting", stuck + ":waiting"},
			{"?state=fulfilled,%20fulfilled", id + ":fulfilled"},
			{"", sorted[0] + ":" + states[sorted[0]] + " " + sorted[1] + ":" + states[sorted[1]] + " " + sorted[2] + ":" + states[sorted[2]]},
			{"?limit=1", sorted[0] + ":" + states[sorted[0]] + " next=" + sorted[0]},
			{"?limit=1&after=" + sorted[1], sorted[2] + ":" + states[sorted[2]]},
		} {
			if got := strings.Join(rows(c.query), " "); got != c.want {
				t.Errorf("GET /v1/admin/fulfilment%s: %s, want %s", c.query, got, c.want)
			}
		}
		expect(t, e.do("GET", "/v1/admin/fulfilment?state=stuck", adminToken, nil), 400, api.CodeInvalidRequest)
		expect(t, e.do("GET", "/v1/admin/fulfilment?limit=501", adminToken, nil), 400, api.CodeInvalidLimit)
		expect(t, e.do("GET", "/v1/admin/fulfilment", "", nil), 401, api.CodeUnauthenticated)
		expect(t, e.do("GET", "/v1/admin/fulfilment", alice, nil), 403, api.CodeForbidden)
		expect(t, e.do("GET", "/v1/admin/fulfilment/"+late, adminToken, nil), 200, "")
		expect(t, e.do("GET", "/v1/admin/fulfilment/o-none", adminToken, nil), 404, api.CodeFulfilmentNotFound)
		expect(t, e.do("POST", "/v1/admin/fulfilment/late/"+late+"/resolve", adminToken, nil), 200, "")
		expect(t, e.do("POST", "/v1/admin/fulfilment/late/"+late+"/resolve", adminToken, nil), 409, api.CodeNotLate)
		expect(t, e.do("POST", "/v1/admin/fulfilment/late/o-none/resolve", adminToken, nil), 404, api.CodeFulfilmentNotFound)
		for _, p := range []string{"/v1/admin/fulfilment/late", "/v1/admin/fulfilment/" + late} {
			expect(t, e.do("GET", p, "", nil), 401, api.CodeUnauthenticated)
			expect(t, e.do("GET", p, alice, nil), 403, api.CodeForbidden)
		}
		expect(t, e.do("POST", "/v1/admin/fulfilment/late/"+late+"/resolve", "", nil), 401, api.CodeUnauthenticated)
		expect(t, e.do("POST", "/v1/admin/fulfilment/late/"+late+"/resolve", alice, nil), 403, api.CodeForbidden)
		expect(t, e.do("GET", "/v1/admin/fulfilment/late?limit=0", adminToken, nil), 400, api.CodeInvalidLimit)
		big := fmt.Sprintf(`{"orderId":%q,"outcome":"fulfilled","reason":"%0*d"}`, id, ful.MaxCallbackBytes, 0)
		expect(t, e.do("POST", path, "", big, signed(t, "m5", wall, big, supplierSecret)...), 413, api.CodeBodyTooLarge)
		e.relayRefunds()
		audit := decodeJSON[struct {
			Clean bool `json:"clean"`
		}](t, e.do("GET", "/v1/admin/payments/audit", adminToken, nil))
		if !audit.Clean {
			t.Fatalf("money audit: %s", e.do("GET", "/v1/admin/payments/audit", adminToken, nil))
		}
		// Every documented status of the fulfilment routes was answered
		// (503 and 429 are shared and answered elsewhere).
		for name, statuses := range map[string][]int{
			"POST /v1/fulfilment/callbacks/{supplier}":    {200, 400, 401, 404, 409, 413},
			"GET /v1/admin/fulfilment/late":               {200, 400, 401, 403},
			"GET /v1/admin/fulfilment":                    {200, 400, 401, 403},
			"POST /v1/admin/fulfilment/late/{id}/resolve": {200, 401, 403, 404, 409},
			"GET /v1/admin/fulfilment/{id}":               {200, 401, 403, 404},
		} {
			for _, st := range statuses {
				if !e.seen.seen[name][st] {
					t.Errorf("%s: documented status %d was never answered", name, st)
				}
			}
		}
	})
}

// Without a fulfilment service the callback answers 503.
func TestFulfilmentDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.Open(t, store.SQLite))
	expect(t, e.do("POST", "/v1/fulfilment/callbacks/acme", "", `{}`), 503, api.CodeFulfilmentDisabled)
}
