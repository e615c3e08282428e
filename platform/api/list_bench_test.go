package api_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// listBenchOrders is how many orders the list benchmark's database holds.
const listBenchOrders = 100_000

// BenchmarkListOrders pages the first 50 orders through GET /v1/orders as
// an administrator (no filter) and as agents whose lists the policy
// filters: a region (an eighth of the orders), a first-tier agent (1/80)
// and a store (1/2,000). The filtered lists should cost within 1.2× of the
// unfiltered one (docs/performance.md#permissions).
//
//	TMF_TEST_POSTGRES=… go test -run '^$' -bench ListOrders -benchtime 3s ./platform/api/
func BenchmarkListOrders(b *testing.B) {
	for _, dialect := range storetest.Dialects() {
		b.Run(dialect, func(b *testing.B) { benchListOrders(b, dialect) })
	}
}

func benchListOrders(b *testing.B, dialect string) {
	ctx := b.Context()
	st := storetest.Open(b, dialect, store.WithMaxOpenConns(8))
	k, err := catalog.NewKernel()
	if err != nil {
		b.Fatal(err)
	}
	// The tree: hq → 8 regions → 10 agents each → 25 stores each.
	if _, err := st.CreateOrg(ctx, store.Org{ID: "hq"}); err != nil {
		b.Fatal(err)
	}
	var stores []string
	for r := range 8 {
		region := fmt.Sprintf("r%d", r)
		if _, err := st.CreateOrg(ctx, store.Org{ID: region, Parent: "hq"}); err != nil {
			b.Fatal(err)
		}
		for a := range 10 {
			agent := fmt.Sprintf("%s-a%d", region, a)
			if _, err := st.CreateOrg(ctx, store.Org{ID: agent, Parent: region}); err != nil {
				b.Fatal(err)
			}
			for s := range 25 {
				id := fmt.Sprintf("%s-s%d", agent, s)
				if _, err := st.CreateOrg(ctx, store.Org{ID: id, Parent: agent}); err != nil {
					b.Fatal(err)
				}
				stores = append(stores, id)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const batch = 1000
	for n := 0; n < listBenchOrders; n += batch {
		orders := make([]store.Order, 0, batch)
		lines := make([]store.OrderLine, 0, batch)
		for i := n; i < n+batch; i++ {
			id := fmt.Sprintf("o%09d", i)
			at := start.Add(time.Duration(i) * time.Second)
			orders = append(orders, store.Order{ID: id, BizCode: "retail", BuyerID: fmt.Sprintf("buyer-%d", rng.IntN(20000)),
				OwnerOrg: stores[rng.IntN(len(stores))], Status: "created", Currency: "CNY", Subtotal: 1999, Total: 1999,
				Shipping: "{}", Version: 1, CreatedAt: at, UpdatedAt: at})
			lines = append(lines, store.OrderLine{OrderID: id, LineNo: 1, SKU: "mug", Quantity: 1, ListPrice: 1999,
				UnitPrice: 1999, LineTotal: 1999})
		}
		if err := st.DB(ctx).CreateInBatches(orders, 250).Error; err != nil {
			b.Fatal(err)
		}
		if err := st.DB(ctx).CreateInBatches(lines, 250).Error; err != nil {
			b.Fatal(err)
		}
	}
	// Fresh statistics, as a database that has lived with its orders has.
	analyze := map[string]string{store.Postgres: "ANALYZE", store.MySQL: "ANALYZE TABLE tmf_orders, tmf_order_lines, tmf_orgs",
		store.SQLite: "ANALYZE"}
	if err := st.DB(ctx).Exec(analyze[dialect]).Error; err != nil {
		b.Fatal(err)
	}
	principals := []struct{ id, roles, org string }{
		{"root", "admin", ""}, {"region-agent", "agent", "r3"}, {"tier1-agent", "agent", "r3-a7"}, {"store-agent", "agent", "r3-a7-s11"},
	}
	for _, p := range principals {
		if err := st.CreatePrincipal(ctx, store.Principal{ID: p.id, Roles: p.roles, Org: p.org, TokenHash: api.TokenHash(p.id)}); err != nil {
			b.Fatal(err)
		}
	}
	srv := httptest.NewServer(api.New(api.Config{Service: order.NewService(k, st), Store: st, Kernel: k}).Handler())
	defer srv.Close()
	client := srv.Client()
	for _, c := range []struct{ name, token string }{
		{"unfiltered-admin", "root"}, {"filtered-region", "region-agent"}, {"filtered-tier1", "tier1-agent"}, {"filtered-store", "store-agent"},
	} {
		b.Run(c.name, func(b *testing.B) {
			get := func() int {
				req, _ := http.NewRequestWithContext(b.Context(), http.MethodGet, srv.URL+"/v1/orders?limit=50", nil)
				req.Header.Set("Authorization", "Bearer "+c.token)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
				return int(n)
			}
			if get() < 1000 {
				b.Fatal("a page of fewer than a few orders: the filter finds nothing")
			}
			b.ResetTimer()
			for b.Loop() {
				get()
			}
		})
	}
}
