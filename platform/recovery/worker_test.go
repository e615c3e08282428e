package recovery_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/recovery"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

type clock struct{ now atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.now.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.now.Add(int64(d)) }

// service is one server process: its own order service and payments over
// the shared database and acquirer tables.
func service(t *testing.T, st *store.Store, k *kernel.Kernel, clk *clock) *order.Service {
	t.Helper()
	svc := order.NewService(k, st, order.WithPayments(payment.NewPayments(payment.NewSandbox(st.DB(t.Context())), clk.Now)))
	svc.SetClock(clk.Now)
	return svc
}

// Two workers (two server processes) recover one database at once: every
// charge whose answer was lost on an order cancelled meanwhile is recorded
// and refunded exactly once, every lost charge on a live order pays it, and
// the money audit comes out clean.
func TestWorkersRecoverOnceAcrossProcesses(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		clk := &clock{}
		clk.now.Store(time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC).UnixNano())
		k, err := catalog.NewKernel()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
			{Code: "virtual", Products: []kernel.ProductRef{{Name: "virtual-goods"}}},
		}}); err != nil {
			t.Fatal(err)
		}
		if err := st.PutSKU(ctx, store.SKU{SKU: "topup", Title: "Top-up", Price: 5000, Currency: "CNY", Category: "topup", Virtual: true}); err != nil {
			t.Fatal(err)
		}
		if err := st.Tx(ctx, func(tx *gorm.DB) error {
			_, err := stock.SetSellable(ctx, tx, "topup", "virtual", 100, "test")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		one, two := service(t, st, k, clk), service(t, st, k, clk)
		const n = 8
		var ids []string
		for i := range n {
			v, err := one.Place(ctx, order.Buyer{ID: "alice"}, order.PlaceRequest{BizCode: "virtual",
				Items: []order.Item{{SKU: "topup", Quantity: 1}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, v.ID)
			if _, err := one.Pay(ctx, v.ID, order.PayRequest{Key: "k", Card: &payment.Card{Number: payment.CardAnswerLost}}); err == nil {
				t.Fatal("the lost answer was answered")
			}
			if i%2 == 0 {
				if _, err := one.Fire(ctx, v.ID, order.Event{Name: "cancel", Actor: "alice"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		clk.Advance(payment.DefaultRetryAfter + time.Second)
		var wg sync.WaitGroup
		var settled atomic.Int64
		for _, svc := range []*order.Service{one, two} {
			w := recovery.New(svc, recovery.Options{Batch: 3})
			wg.Go(func() {
				for range 5 {
					got, err := w.Pass(ctx)
					if err != nil {
						t.Error(err)
					}
					settled.Add(int64(got))
				}
			})
		}
		wg.Wait()
		// Eight charges; four cancelled orders also owe a refund, paid by a
		// later pass.
		if got := settled.Load(); got != n+n/2 {
			t.Errorf("%d payments settled across both workers, want %d (each once)", got, n+n/2)
		}
		for i, id := range ids {
			v, err := one.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			pays, _ := one.Payments(ctx, id)
			want, wantPays := "completed", 1
			if i%2 == 0 {
				want, wantPays = "cancelled", 2
			}
			if v.Status != want || len(pays) != wantPays {
				t.Errorf("order %d: %s with %d payments, want %s with %d", i, v.Status, len(pays), want, wantPays)
			}
		}
		a, err := order.AuditMoney(ctx, st.DB(ctx), clk.Now())
		if err != nil || len(a.Problems) != 0 || a.Orders != n {
			t.Fatalf("money audit %+v, %v", a, err)
		}
	})
}
