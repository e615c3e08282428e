package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/stockcenter"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// newStockDBEnv is newEnv with stock in a database of its own (same
// dialect, created for the test): the order service reserves through the
// stock center, the stock endpoints read and write the stock database, and
// the center's worker runs until the test ends. The returned check waits
// for the worker and asserts that no reservation is left tried and the
// stock audit of the stock database is clean.
func newStockDBEnv(t *testing.T, st *store.Store) (*env, func()) {
	t.Helper()
	sdb := storetest.Open(t, st.Dialect())
	center, err := stockcenter.New(sdb, stockcenter.One{Store: st}, stockcenter.Options{Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := center.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	var svc *order.Service
	e := newEnv(t, st, func(cfg *api.Config) {
		svc = order.NewService(cfg.Kernel, cfg.Store, order.WithPromotions(cfg.Promotions), order.WithStockKeeper(center))
		cfg.Service, cfg.Stock = svc, sdb
	})
	e.svc = svc
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); center.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	check := func() {
		t.Helper()
		ctx := t.Context()
		if _, err := center.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		counts, err := stock.ReservationCounts(ctx, sdb.DB(ctx))
		if err != nil {
			t.Fatal(err)
		}
		if counts[stock.ReservationTried] != 0 {
			t.Errorf("reservations %v: some left tried after every placement ended", counts)
		}
		found, err := stock.Audit(ctx, sdb.DB(ctx))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range found {
			t.Errorf("stock audit: %s", d)
		}
		var local int64
		if err := st.DB(ctx).Model(&stock.LedgerEntry{}).Count(&local).Error; err != nil || local != 0 {
			t.Errorf("%d ledger rows in the order database (%v); stock lives in its own", local, err)
		}
	}
	return e, check
}

// The concurrency acceptance with stock in its own database: 500 orders on
// 100 units place exactly 100; one Idempotency-Key places one order; bad
// input is a 4xx problem and writes nothing. The stock ends audited clean,
// with every reservation confirmed or cancelled.
func TestStockDatabaseAcceptance(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"never oversell", neverOversell},
		{"one key one order", oneKeyOneOrder},
		{"bad input writes nothing", badInputsWriteNothing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.ForEach(t, func(t *testing.T, st *store.Store) {
				if st.Dialect() == store.MySQL {
					t.Skip("stock in its own database is tested on SQLite and PostgreSQL")
				}
				e, check := newStockDBEnv(t, st)
				tc.run(t, e)
				check()
			})
		})
	}
}
