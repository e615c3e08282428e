package timeouts_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
	"github.com/tmf-platform/tmf/platform/timeouts"
)

type clock struct{ now atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.now.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.now.Add(int64(d)) }

func setup(t *testing.T, st *store.Store, clk *clock) *order.Service {
	t.Helper()
	k, err := catalog.NewKernel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
		{Code: "virtual", Products: []kernel.ProductRef{{Name: "virtual-goods"}}, PaymentTimeout: kernel.Duration(15 * time.Minute)},
	}}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := st.PutSKU(ctx, store.SKU{SKU: "topup", Title: "Top-up", Price: 5000, Currency: "CNY", Category: "topup", Virtual: true}); err != nil {
		t.Fatal(err)
	}
	if err := st.Tx(ctx, func(tx *gorm.DB) error {
		_, err := stock.SetSellable(ctx, tx, "topup", "virtual", 10, "test")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	svc := order.NewService(k, st)
	svc.SetClock(clk.Now)
	return svc
}

func place(t *testing.T, svc *order.Service, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		v, err := svc.Place(t.Context(), order.Buyer{ID: "alice"}, order.PlaceRequest{BizCode: "virtual",
			Items: []order.Item{{SKU: "topup", Quantity: 1}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
	}
	return ids
}

// Two centers (two server processes) sweep one database at once after the
// deadline: every overdue order is cancelled exactly once, a paid one is
// left alone, and the stock comes back.
func TestPaymentTimeoutsCancelOnceAcrossProcesses(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		clk := &clock{}
		clk.now.Store(time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC).UnixNano())
		svc := setup(t, st, clk)
		ids := place(t, svc, 5)
		if _, err := svc.Fire(t.Context(), ids[0], order.Event{Name: "pay", Actor: "alice"}); err != nil {
			t.Fatal(err)
		}
		a := timeouts.New(svc, st, timeouts.Options{Now: clk.Now, Batch: 2})
		b := timeouts.New(svc, st, timeouts.Options{Now: clk.Now, Batch: 2})
		if n, err := a.Sweep(t.Context()); err != nil || n != 0 {
			t.Fatalf("before the deadline: cancelled %d, %v", n, err)
		}
		clk.Advance(15*time.Minute + time.Second)
		var total atomic.Int64
		var wg sync.WaitGroup
		for _, c := range []*timeouts.Center{a, b} {
			wg.Go(func() {
				n, err := c.Sweep(t.Context())
				if err != nil {
					t.Error(err)
				}
				total.Add(int64(n))
			})
		}
		wg.Wait()
		if total.Load() != 4 {
			t.Fatalf("cancelled %d orders in all, want 4", total.Load())
		}
		for i, id := range ids {
			v, err := svc.Get(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			want := "cancelled"
			if i == 0 {
				want = "completed"
			}
			if v.Status != want {
				t.Errorf("order %d: %s, want %s", i, v.Status, want)
			}
			hist, _ := st.OrderHistory(t.Context(), id)
			if i > 0 && (len(hist) != 2 || hist[1].Event != "payment_timeout" || hist[1].Actor != timeouts.Actor) {
				t.Errorf("order %d history: %+v", i, hist)
			}
		}
		levels, err := stock.Levels(t.Context(), st.DB(t.Context()), "topup")
		if err != nil || len(levels) != 1 || levels[0].Sellable != 9 || levels[0].Reserved != 0 || levels[0].Frozen != 0 ||
			levels[0].Shipped != 1 {
			t.Fatalf("stock after timeouts: %+v, %v", levels, err)
		}
		if d, err := stock.Audit(t.Context(), st.DB(t.Context())); err != nil || len(d) != 0 {
			t.Errorf("stock audit: %v, %v", d, err)
		}
		// Each timed-out order released its reservation exactly once.
		var releases int64
		if err := st.DB(t.Context()).Model(&stock.LedgerEntry{}).Where("kind = ?", stock.KindRelease).Count(&releases).Error; err != nil ||
			releases != 4 {
			t.Errorf("%d release rows, %v; want 4", releases, err)
		}
		// A restart (a new center) finds nothing more to do.
		if n, err := timeouts.New(svc, st, timeouts.Options{Now: clk.Now}).Sweep(t.Context()); err != nil || n != 0 {
			t.Fatalf("after restart: %d, %v", n, err)
		}
	})
}
