package main

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// A short run against a real server on SQLite: the hot SKU sells out, the
// report names the out-of-stock errors, the invariant check passes, and the
// bare-SQL baseline runs on the same database.
func TestBenchAgainstARealServer(t *testing.T) {
	dsn := storetest.NewDatabase(t, store.SQLite)
	st, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	k, err := catalog.NewKernel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
		{Code: "retail", Products: []kernel.ProductRef{{Name: "standard-retail"}}}},
		Rules: []identity.Rule{{Identity: "retail"}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePrincipal(t.Context(), store.Principal{ID: "admin", Roles: "admin", TokenHash: api.TokenHash("adm")}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Service: order.NewService(k, st), Store: st, Kernel: k}).Handler())
	defer srv.Close()

	var out bytes.Buffer
	// Every order is for the hot SKU, so that it sells out (5 units) within
	// the run even on a starved machine placing a few orders a second.
	err = run(t.Context(), []string{"--url", srv.URL, "--admin-token", "adm", "--buyers", "4", "--duration", "3s",
		"--skus", "3", "--hot", "1", "--hot-stock", "5", "--sql", dsn}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"orders/s", "place latency: p50", "errors out_of_stock", "stock invariant holds for 4 SKUs (hot SKU: 5 sold of 5)", "bare SQL, one placement transaction"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// The bare-SQL baseline writes what the stock domain writes: a reserve
	// row in tmf_stock_ledger per unit taken from the pool slot of
	// tmf_stock_slots, so the stock audit finds nothing, for the server's
	// orders and the baseline's alike.
	ctx := t.Context()
	var bare []stock.Slot
	if err := st.DB(ctx).Where("sku LIKE ?", "bare-%").Find(&bare).Error; err != nil {
		t.Fatal(err)
	}
	if len(bare) != 1 || bare[0].Slot != stock.PoolSlot || bare[0].Reserved == 0 {
		t.Fatalf("baseline stock slots = %+v, want the pool slot of one SKU with reservations", bare)
	}
	var rows int64
	if err := st.DB(ctx).Model(&stock.LedgerEntry{}).Where("sku = ? AND kind = ?", bare[0].SKU, stock.KindReserve).
		Count(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if rows != bare[0].Reserved {
		t.Errorf("%d reserve rows for the baseline's SKU, %d reserved", rows, bare[0].Reserved)
	}
	ds, err := stock.Audit(ctx, st.DB(ctx))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		t.Errorf("stock audit: %s", d)
	}
}

func TestBenchRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{}, {"--admin-token", "x", "--hot", "2"}, {"--admin-token", "x", "--buyers", "0"}} {
		if err := run(t.Context(), args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
