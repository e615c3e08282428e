package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/domains/delivery"
	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/outbox"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/products/b2bdistribution"
	"github.com/tmf-platform/tmf/products/standardretail"
	"github.com/tmf-platform/tmf/products/virtualgoods"
)

const adminToken = "admin-secret-token"

// domesticFreight is the freight template of the "domestic" identity: it
// ships to CN-31 only (no default rate), 800 a kilogram.
const domesticFreight = `{"name":"domestic","basis":"weight","rates":[{"regions":["CN-31"],"first":800,"firstUnits":1000,` +
	`"additional":800,"additionalUnits":1000}]}`

// testConfig, after cmd/tmfd/default-config.yaml: "retail" (standard-retail)
// for everything, "virtual.topup" (virtual-goods) for carts of top-ups,
// "retail.vip" (as retail) for buyers with the attribute tier=vip, "b2b"
// (b2b-distribution), "domestic" (standard-retail with a freight template
// that ships to CN-31 only) and "faulty" (see faultyBizpack) when an order
// names them.
func testConfig() kernel.Config {
	return kernel.Config{Revision: 1,
		Identities: []kernel.IdentitySpec{
			{Code: "retail", Products: []kernel.ProductRef{{Name: standardretail.Name}}},
			{Code: "virtual.topup", Products: []kernel.ProductRef{{Name: virtualgoods.Name}}},
			{Code: "retail.vip"},
			{Code: "b2b", Products: []kernel.ProductRef{{Name: b2bdistribution.Name}}},
			{Code: "domestic", Products: []kernel.ProductRef{{Name: standardretail.Name,
				Args: map[string]json.RawMessage{delivery.Freight.Spec().Name: json.RawMessage(domesticFreight)}}}},
			{Code: "faulty", Products: []kernel.ProductRef{{Name: virtualgoods.Name}}, Bizpacks: []kernel.BizpackRef{{Name: "faulty"}}},
		},
		Rules: []identity.Rule{{Identity: "virtual.topup", Category: "topup"}, {Identity: "retail.vip", Buyer: map[string]string{"tier": "vip"}},
			{Identity: "retail"}},
	}
}

// testPolicy is the shipped policy in a directory of its own, with the
// identities of testConfig that buyers and agents name in their orders
// open to them (data.tmf.open_identities); retail.vip is not.
func testPolicy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(authz.DefaultPolicy(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		bs, err := fs.ReadFile(authz.DefaultPolicy(), p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), bs, 0o644)
	})
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "data.json"),
			[]byte(`{"tmf":{"open_identities":["faulty","domestic","b2b","virtual.topup"]}}`), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// faultyBizpack fails on demand, for the API's 502 and 504 answers: its
// order.validate fails for the channel "fail" and overruns its deadline for
// "slow"; its order.guard does the same for data fail=yes and slow=yes.
func faultyBizpack() kernel.Bizpack {
	misbehave := func(ctx context.Context, how string) error {
		switch how {
		case "fail":
			return errors.New("faulty: the backend is down (internal detail that must not leak)")
		case "slow":
			// A bizpack's implementation run in process is judged after the
			// fact: answering after the point's deadline (50ms) is a timeout.
			select {
			case <-ctx.Done():
			case <-time.After(120 * time.Millisecond):
			}
			return nil
		}
		return nil
	}
	return kernel.Bizpack{Name: "faulty", Version: "1", Impls: []kernel.Implementation{
		order.Validate.Impl("faulty.validate", func(ctx context.Context, req extensions.ValidateRequest) (extensions.Verdict, error) {
			if err := misbehave(ctx, req.Channel); err != nil {
				return extensions.Verdict{}, err
			}
			return extensions.Allow(), nil
		}),
		order.Guard.Impl("faulty.guard", func(ctx context.Context, req extensions.GuardRequest) (extensions.Verdict, error) {
			how := ""
			if req.Data["fail"] == "yes" {
				how = "fail"
			} else if req.Data["slow"] == "yes" {
				how = "slow"
			}
			if err := misbehave(ctx, how); err != nil {
				return extensions.Verdict{}, err
			}
			return extensions.Allow(), nil
		}),
	}}
}

// lockedBuffer collects the request log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is the log so far, to print when a test fails.
func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) lines() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(l.b.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// env is a server over a real store, with an administrator seeded through
// the store. Every answer it receives is checked against docs/openapi.yaml.
type env struct {
	t      *testing.T
	st     *store.Store
	k      *kernel.Kernel
	svc    *order.Service
	book   *promotion.Book
	srv    *httptest.Server
	client *http.Client
	logs   *lockedBuffer
	reg    *prometheus.Registry
	ready  *atomic.Pointer[error]
	seen   *coverage
}

// with returns the env reporting to t, for use in a subtest.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func newEnv(t *testing.T, st *store.Store, tune ...func(*api.Config)) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	book := promotion.NewBook(nil)
	cat, impls, err := catalog.NewWith(catalog.Sources{Promotions: book})
	if err != nil {
		t.Fatal(err)
	}
	if err := impls.PutBizpack(faultyBizpack()); err != nil {
		t.Fatal(err)
	}
	k, err := kernel.New(cat, impls, kernel.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Apply(testConfig()); err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePrincipal(t.Context(), store.Principal{ID: "root", Roles: "admin", TokenHash: api.TokenHash(adminToken)}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, k: k, svc: order.NewService(k, st, order.WithPromotions(book)), book: book,
		logs: &lockedBuffer{}, reg: reg, ready: &atomic.Pointer[error]{}, seen: &coverage{}}
	// A generous evaluation deadline: answers must not depend on how loaded
	// the machine running the tests is (-race, parallel packages).
	pol, err := authz.New(t.Context(), authz.Options{Source: testPolicy(t), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{Service: e.svc, Store: st, Kernel: k, Promotions: book, Policy: pol,
		Logger: slog.New(slog.NewJSONHandler(e.logs, nil)), Gatherer: reg, Registerer: reg,
		Ready: func(context.Context) error {
			if err := e.ready.Load(); err != nil {
				return *err
			}
			return nil
		}}
	for _, f := range tune {
		f(&cfg)
	}
	e.srv = httptest.NewServer(api.New(cfg).Handler())
	t.Cleanup(e.srv.Close)
	e.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(e.client.CloseIdleConnections)
	return e
}

// reply is an answer, read whole.
type reply struct {
	status int
	header http.Header
	raw    []byte
	req    *http.Request
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.raw, &m); err != nil {
		t.Fatalf("%s %s: %d %q is not a JSON object: %v", r.req.Method, r.req.URL.Path, r.status, r.raw, err)
	}
	return m
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.status, r.raw) }

// code is the problem code of an error answer, "" for a success.
func (r reply) code() string {
	var p struct{ Code string }
	_ = json.Unmarshal(r.raw, &p)
	return p.Code
}

// do sends a request; body is a string (sent as is) or a value (as JSON);
// headers are name, value pairs. It is safe to call from any goroutine: a
// transport failure is reported and answered as status 0.
func (e *env) do(method, path, token string, body any, headers ...string) reply {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b // of unknown length: sent chunked
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		panic(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Errorf("%s %s: %v", method, path, err)
		return reply{raw: []byte(err.Error()), header: http.Header{}, req: req}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Errorf("%s %s: reading the answer: %v", method, path, err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw, req: req}
	e.conform(r)
	return r
}

// expect fails unless the answer has the status (and, for an error, is a
// problem with the code).
func expect(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s %s: got %s; want %d %s", r.req.Method, r.req.URL, r, status, code)
	}
	if status < 400 {
		return
	}
	if ct := r.header.Get("Content-Type"); ct != api.ProblemContentType {
		t.Fatalf("%s %s: content type %q of %s", r.req.Method, r.req.URL, ct, r)
	}
	if code != "" && r.code() != code {
		t.Fatalf("%s %s: code %q; want %q (%s)", r.req.Method, r.req.URL, r.code(), code, r)
	}
}

// sku creates a SKU and sets its stock at "default" through the API.
func (e *env) sku(name string, price int64, category string, virtual bool, stock int64) {
	e.t.Helper()
	r := e.do("PUT", "/v1/skus/"+name, adminToken, map[string]any{"title": "Test " + name, "price": price, "currency": "CNY",
		"category": category, "weightGrams": 500, "virtual": virtual})
	expect(e.t, r, 200, "")
	r = e.do("PUT", "/v1/stock/"+name, adminToken, map[string]any{"sellable": stock, "reason": "test"})
	expect(e.t, r, 200, "")
}

// principal creates a principal through the API and returns its token.
func (e *env) principal(id string, roles ...string) string {
	e.t.Helper()
	body := map[string]any{"id": id, "roles": roles}
	if slices.Contains(roles, "operator") {
		body["identities"] = []string{"*"} // the tests' operators run every identity
	}
	r := e.do("POST", "/v1/admin/principals", adminToken, body)
	expect(e.t, r, 201, "")
	tok, _ := r.json(e.t)["token"].(string)
	if tok == "" {
		e.t.Fatalf("no token in %s", r)
	}
	return tok
}

// stock reads the totals of a SKU.
func (e *env) stock(sku string) api.StockView {
	e.t.Helper()
	r := e.do("GET", "/v1/stock/"+sku, adminToken, nil)
	expect(e.t, r, 200, "")
	var v api.StockView
	if err := json.Unmarshal(r.raw, &v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

// orders lists every order visible to token, following the cursor.
func (e *env) orders(token, query string, limit int) []order.View {
	e.t.Helper()
	var all []order.View
	cursor := ""
	for range 1000 {
		path := fmt.Sprintf("/v1/orders?limit=%d%s", limit, query)
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := e.do("GET", path, token, nil)
		expect(e.t, r, 200, "")
		var page order.Page
		if err := json.Unmarshal(r.raw, &page); err != nil {
			e.t.Fatal(err)
		}
		if len(page.Orders) > limit {
			e.t.Fatalf("page of %d orders for limit %d", len(page.Orders), limit)
		}
		all = append(all, page.Orders...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
	e.t.Fatal("the cursor never ends")
	return nil
}

func retailBody(sku string, qty int64) map[string]any {
	return map[string]any{"items": []map[string]any{{"sku": sku, "quantity": qty}},
		"shippingAddress": map[string]any{"region": "CN-31", "city": "Shanghai", "line1": "1 Bund"}}
}

func decodeView(t *testing.T, r reply) order.View {
	t.Helper()
	var v order.View
	if err := json.Unmarshal(r.raw, &v); err != nil {
		t.Fatalf("%v: %s", err, r)
	}
	return v
}

// Test cards of the payment sandbox (domains/payment).
const (
	cardOK        = "4242424242424242"
	cardDeclined  = "4000000000000002"
	cardNoFunds   = "4000000000009995"
	cardProcError = "4000000000000119"
)

// pay pays an order through POST /v1/orders/{id}/payments with a card
// (none when card is ""), under key.
func (e *env) pay(token, id, key, card string) reply {
	e.t.Helper()
	body := map[string]any{}
	if card != "" {
		body["card"] = map[string]any{"number": card}
	}
	return e.do("POST", "/v1/orders/"+id+"/payments", token, body, "Idempotency-Key", key)
}

// fire fires an event on an order and expects it to pass.
func (e *env) fire(token, id, event string, data map[string]string) order.View {
	e.t.Helper()
	r := e.do("POST", "/v1/orders/"+id+"/events", token, map[string]any{"event": event, "data": data})
	expect(e.t, r, 200, "")
	return decodeView(e.t, r)
}

// relayRefunds pays the refunds orders owe, as payment recovery does in
// tmfd, and drains the outbox.
func (e *env) relayRefunds() {
	e.t.Helper()
	for range 100 {
		st, err := e.svc.RecoverPayments(e.t.Context(), 100)
		if err != nil {
			e.t.Fatalf("payment recovery: %v", err)
		}
		if st.Taken == 0 {
			break
		}
	}
	relay := outbox.New(e.st, outbox.Options{})
	for range 100 {
		n, err := relay.Flush(e.t.Context())
		if err != nil {
			e.t.Fatalf("relay: %v", err)
		}
		if n == 0 {
			return
		}
	}
	e.t.Fatal("the outbox never drained")
}

// decodeJSON decodes an answer into v.
func decodeJSON[T any](t *testing.T, r reply) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.raw, &v); err != nil {
		t.Fatalf("%v: %s", err, r)
	}
	return v
}

// logLines is how much of a server's log a failing test prints: the cause is
// near the end, and hundreds of lines above it would bury it.
const logLines = 100

// lastLines is the end of log, at most n lines, saying how many were left
// out before them.
func lastLines(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) <= n {
		return strings.Join(lines, "\n")
	}
	return fmt.Sprintf("[%d earlier lines left out]\n%s", len(lines)-n, strings.Join(lines[len(lines)-n:], "\n"))
}
