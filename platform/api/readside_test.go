package api_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/readmodel"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// readModelDB creates a database of its own for a read model and drops it
// when the test ends.
func readModelDB(t *testing.T) string {
	t.Helper()
	base := os.Getenv(storetest.EnvPostgres)
	if base == "" {
		t.Skipf("%s is not set: skipping the read model test", storetest.EnvPostgres)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "tmf_rm_api_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
		admin.Close()
	})
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}

// The back office lists from the read model, buyers from the order store;
// reads by id go level by level, a buyer's own from the store; when the
// read model is down, lists fall back to the store and say so, searches
// answer 503, and nothing fails.
func TestReadModelLevels(t *testing.T) {
	st := storetest.Open(t, store.Postgres)
	m, err := readmodel.Open(t.Context(), readModelDB(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	src := readmodel.StoreSource{Store: st}
	met := readmodel.NewMetrics()
	reader := readmodel.NewReader(m, src, met, readmodel.ReaderOptions{TTL: time.Hour})
	e := newEnv(t, st, func(c *api.Config) {
		if err := met.Register(c.Registerer); err != nil {
			t.Fatal(err)
		}
		c.ReadSide = &api.ReadSide{Model: m, Reader: reader, Metrics: met, ListTimeout: 5 * time.Second,
			Status: func(ctx context.Context) readmodel.Status {
				return readmodel.Status{Healthy: m.Ping(ctx) == nil, PendingEvents: -1}
			}}
	})
	ctx := t.Context()
	for _, o := range []store.Org{{ID: "hq"}, {ID: "east", Parent: "hq"}, {ID: "sh-01", Parent: "east"}, {ID: "west", Parent: "hq"}} {
		if _, err := st.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	token := func(id, roles, org string) string {
		tok := "tok-" + id + "-0123456789abcdef0123456789abcdef"
		if err := st.CreatePrincipal(ctx, store.Principal{ID: id, Roles: roles, Org: org, TokenHash: api.TokenHash(tok)}); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	alice, bob := token("alice", "buyer", "sh-01"), token("bob", "buyer", "west")
	agent := token("agent-east", "agent", "east")
	e.sku("case", 999, "accessory", false, 1000)
	e.sku("cable", 1999, "accessory", false, 1000)
	place := func(tok, sku string) order.View {
		t.Helper()
		body := retailBody(sku, 1)
		body["shippingAddress"].(map[string]any)["name"] = "Alice Zhang"
		r := e.do("POST", "/v1/orders", tok, body, "Idempotency-Key", "k-"+time.Now().Format(time.RFC3339Nano))
		expect(t, r, 201, "")
		return decodeView(t, r)
	}
	a1, a2 := place(alice, "case"), place(alice, "cable")
	b1 := place(bob, "case")
	if _, err := readmodel.Rebuild(ctx, m, src, readmodel.RebuildOptions{}); err != nil {
		t.Fatal(err)
	}
	level := func(r reply) string { return r.header.Get(api.HeaderReadLevel) }
	ids := func(r reply) []string {
		t.Helper()
		var p order.Page
		if err := json.Unmarshal(r.raw, &p); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range p.Orders {
			out = append(out, v.ID)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(v ...string) []string { slices.Sort(v); return v }

	// A fourth order, which the read model has not seen (its feed lags).
	a3 := place(alice, "case")
	for _, tc := range []struct {
		name, token, query, level string
		want                      []string
	}{
		{"admin: the read model", adminToken, "", api.ReadLevelReadModel, sorted(a1.ID, a2.ID, b1.ID)},
		{"agent: the read model, its subtree", agent, "", api.ReadLevelReadModel, sorted(a1.ID, a2.ID)},
		{"buyer: the store, with its newest write", alice, "", api.ReadLevelStore, sorted(a1.ID, a2.ID, a3.ID)},
		{"admin naming itself: the store", adminToken, "&buyerId=root", api.ReadLevelStore, nil},
		{"search by sku", adminToken, "&sku=cable", api.ReadLevelReadModel, sorted(a2.ID)},
		{"search by recipient and org", adminToken, "&recipient=zhang&org=east", api.ReadLevelReadModel, sorted(a1.ID, a2.ID)},
		{"statuses", agent, "&statuses=pending_payment,cancelled", api.ReadLevelReadModel, sorted(a1.ID, a2.ID)},
		{"status and statuses apart", agent, "&statuses=cancelled&status=pending_payment", api.ReadLevelReadModel, nil},
		{"amount range", adminToken, fmt.Sprintf("&minTotal=%d&maxTotal=%d", a1.Amounts.Total+1, a2.Amounts.Total), api.ReadLevelReadModel, sorted(a2.ID)},
		// The read model does not know families: those lists come from the store.
		{"top level: the store", adminToken, "&topLevel=true", api.ReadLevelStore, sorted(a1.ID, a2.ID, a3.ID, b1.ID)},
		{"a parent's sub-orders: the store", adminToken, "&parentId=" + a1.ID, api.ReadLevelStore, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.with(t).do("GET", "/v1/orders?limit=100"+tc.query, tc.token, nil)
			expect(t, r, 200, "")
			if level(r) != tc.level || !slices.Equal(ids(r), tc.want) {
				t.Fatalf("%s: %v; want %s: %v", level(r), ids(r), tc.level, tc.want)
			}
		})
	}
	// Paging through the read model, two at a time: every order once.
	all := e.orders(adminToken, "", 2)
	if len(all) != 3 {
		t.Fatalf("paged %d orders from the read model", len(all))
	}
	expect(t, e.do("GET", "/v1/orders?topLevel=true&sku=case", adminToken, nil), 400, "invalid_request")
	for _, bad := range []string{"statuses=nope", "org=EAST", "createdFrom=yesterday", "minTotal=-1", "recipient=ab", "sku=a%20b"} {
		expect(t, e.do("GET", "/v1/orders?"+bad, adminToken, nil), 400, "invalid_request")
	}
	// A cursor is bound to the search filters.
	r := e.do("GET", "/v1/orders?limit=1&sku=case", adminToken, nil)
	var p order.Page
	_ = json.Unmarshal(r.raw, &p)
	expect(t, e.do("GET", "/v1/orders?limit=1&sku=cable&cursor="+p.NextCursor, adminToken, nil), 400, "invalid_cursor")

	// Reads by id: the admin's fall through to the store for the order the
	// read model lacks, then come from the cache; alice's own from the store.
	for _, want := range []string{api.ReadLevelStore, api.ReadLevelCache} {
		r := e.do("GET", "/v1/orders/"+a3.ID, adminToken, nil)
		expect(t, r, 200, "")
		if level(r) != want {
			t.Fatalf("admin read of a3: %s, want %s", level(r), want)
		}
	}
	if r := e.do("GET", "/v1/orders/"+a1.ID, adminToken, nil); level(r) != api.ReadLevelReadModel {
		t.Fatalf("admin read of a1: %s", level(r))
	}
	if r := e.do("GET", "/v1/orders/"+a1.ID, alice, nil); r.status != 200 || level(r) != api.ReadLevelStore {
		t.Fatalf("alice's read of her order: %s %s", r, level(r))
	}
	expect(t, e.do("GET", "/v1/orders/"+a1.ID, bob, nil), 404, "order_not_found")
	// This node cancels a3: its cached copy goes, and the read model
	// answers (the version it holds until its feed applies the cancel).
	e.fire(alice, a3.ID, "cancel", nil)
	r = e.do("GET", "/v1/orders/"+a3.ID, adminToken, nil)
	if v := decodeView(t, r); level(r) != api.ReadLevelReadModel || v.Version != 1 {
		t.Fatalf("after the cancel, the admin reads v%d from %s", v.Version, level(r))
	}
	// The feed applies the cancel: the read model and the cache move on.
	feed := readmodel.NewFeed(m, src, nil, met, readmodel.FeedConfig{OnApply: reader.Seen})
	if err := feed.Apply(ctx, events.CloudEvent{ID: "e-1", Type: events.OrderCancelled, Subject: a3.ID, Version: 2, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r = e.do("GET", "/v1/orders/"+a3.ID, adminToken, nil)
	if v := decodeView(t, r); v.Status != "cancelled" || level(r) != api.ReadLevelReadModel {
		t.Fatalf("after the feed, the admin reads %s from %s", v.Status, level(r))
	}

	// The read model goes down.
	m.Close()
	r = e.do("GET", "/v1/orders?limit=100", adminToken, nil)
	expect(t, r, 200, "")
	if level(r) != api.ReadLevelFallback || len(ids(r)) != 4 {
		t.Fatalf("with the read model down: %s %v", level(r), ids(r))
	}
	r = e.do("GET", "/v1/orders?sku=case", adminToken, nil)
	expect(t, r, 503, "read_model_unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	if r := e.do("GET", "/v1/orders?limit=100", alice, nil); r.status != 200 || level(r) != api.ReadLevelStore || len(ids(r)) != 3 {
		t.Fatalf("alice's list with the read model down: %s %s", r, level(r))
	}
	if r := e.do("GET", "/v1/orders/"+b1.ID, adminToken, nil); r.status != 200 || level(r) != api.ReadLevelStore {
		t.Fatalf("admin read with the read model down: %s %s", r, level(r))
	}
	if r := e.do("GET", "/v1/orders/"+b1.ID, agent, nil); r.status != 404 {
		t.Fatalf("the agent reads bob's order outside its subtree: %s", r)
	}
	metrics := string(e.do("GET", "/metrics", "", nil).raw)
	if !strings.Contains(metrics, "tmf_readmodel_fallbacks_total 2") || !strings.Contains(metrics, `tmf_order_reads_total{level="cache"}`) {
		t.Fatalf("metrics lack the fallbacks or the levels:\n%s", grepLines(metrics, "tmf_readmodel_fallbacks_total", "tmf_order_reads_total"))
	}
	r = e.do("GET", "/v1/admin/readmodel", adminToken, nil)
	expect(t, r, 200, "")
	if s := r.json(t); s["configured"] != true || s["healthy"] != false {
		t.Fatalf("status: %s", r)
	}
}

func grepLines(s string, words ...string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}
