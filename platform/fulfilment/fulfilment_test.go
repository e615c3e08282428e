package fulfilment_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/fulfilment"
	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/events"
	ful "github.com/tmf-platform/tmf/platform/fulfilment"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/reconcile"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

type clock struct{ now atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.now.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.now.Add(int64(d)) }

// supplier is an in-process fake supplier: per order, a script of answers
// to dispatch and query (the last one repeats), and how often each was
// called.
type supplier struct {
	mu       sync.Mutex
	dispatch map[string][]extensions.FulfilmentAnswer
	query    map[string][]extensions.FulfilmentAnswer
	calls    map[string]int
}

func (s *supplier) next(script map[string][]extensions.FulfilmentAnswer, point string, req extensions.FulfilmentRequest) (extensions.FulfilmentAnswer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[point+"/"+req.OrderID]++
	key := fmt.Sprint(req.Attributes["script"])
	answers := script[key]
	if len(answers) == 0 {
		return extensions.FulfilmentAnswer{}, errors.New("supplier down")
	}
	a := answers[0]
	if len(answers) > 1 {
		script[key] = answers[1:]
	}
	if a.Outcome == "error" {
		return extensions.FulfilmentAnswer{}, errors.New("connection refused")
	}
	return a, nil
}

func (s *supplier) count(point, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[point+"/"+id]
}

type env struct {
	k   *kernel.Kernel
	svc *order.Service
	st  *store.Store
	clk *clock
	sup *supplier
	new func() *ful.Service
}

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func setup(t *testing.T, st *store.Store, sup *supplier) *env {
	t.Helper()
	cat, reg, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.PutBizpack(kernel.Bizpack{Name: "fake-supplier", Version: "1", Impls: []kernel.Implementation{
		fulfilment.Dispatch.Impl("fake.dispatch", func(_ context.Context, r extensions.FulfilmentRequest) (extensions.FulfilmentAnswer, error) {
			return sup.next(sup.dispatch, "dispatch", r)
		}),
		fulfilment.Query.Impl("fake.query", func(_ context.Context, r extensions.FulfilmentRequest) (extensions.FulfilmentAnswer, error) {
			return sup.next(sup.query, "query", r)
		}),
	}, Attributes: &extensions.AttributeSchema{Type: "object", Properties: map[string]extensions.AttributeProperty{"script": {Type: "string"}}}}); err != nil {
		t.Fatal(err)
	}
	k, err := kernel.New(cat, reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
		{Code: "virtual", Products: []kernel.ProductRef{{Name: "virtual-goods"}}},
		{Code: "virtual.topup", Bizpacks: []kernel.BizpackRef{{Name: "fake-supplier"}},
			Fulfilment: &kernel.FulfilmentSpec{Deadline: kernel.Duration(30 * time.Minute), PollEvery: kernel.Duration(time.Minute)}},
	}}); err != nil {
		t.Fatal(err)
	}
	putTopup(t, st, "topup", "virtual", 5000)
	clk := &clock{}
	clk.now.Store(time.Now().UTC().Truncate(time.Second).UnixNano())
	svc := order.NewService(k, st)
	svc.SetClock(clk.Now)
	e := &env{k: k, svc: svc, st: st, clk: clk, sup: sup}
	e.new = func() *ful.Service {
		w, err := ful.New(svc, k, st, ful.Options{Now: clk.Now, Suppliers: map[string]string{"acme": secret}})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	return e
}

// putTopup puts a virtual SKU with 100 sellable at loc.
func putTopup(t *testing.T, st *store.Store, sku, loc string, price int64) {
	t.Helper()
	ctx := t.Context()
	if err := st.PutSKU(ctx, store.SKU{SKU: sku, Title: sku, Price: price, Currency: "CNY", Category: "topup", Virtual: true}); err != nil {
		t.Fatal(err)
	}
	if err := st.Tx(ctx, func(tx *gorm.DB) error {
		_, err := stock.SetSellable(ctx, tx, sku, loc, 100, "test")
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// paid places and pays (by card) an order whose supplier follows script.
func (e *env) paid(t *testing.T, script string) string {
	t.Helper()
	id, status := e.pay(t, script)
	if status != "fulfilling" {
		t.Fatalf("paid order is %s, want fulfilling", status)
	}
	return id
}

// pay places a top-up and pays it, returning the order id and the status
// the payment answered (a worker running meanwhile may have moved it on).
func (e *env) pay(t *testing.T, script string) (id, status string) {
	t.Helper()
	v, err := e.svc.Place(t.Context(), order.Buyer{ID: "alice"}, order.PlaceRequest{BizCode: "virtual.topup",
		Items: []order.Item{{SKU: "topup", Quantity: 1}}, PaymentMethod: "card", Attributes: map[string]json.RawMessage{"script": json.RawMessage(strconv.Quote(script))}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.Pay(t.Context(), v.ID, order.PayRequest{Key: "k", Card: &payment.Card{Number: payment.CardApproved}, Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	return v.ID, r.Order.Status
}

func (e *env) status(t *testing.T, id string) string {
	t.Helper()
	v, err := e.svc.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v.Status
}

func (e *env) topics(t *testing.T, id string) map[string]int {
	t.Helper()
	var evs []store.OutboxEvent
	if err := e.st.DB(t.Context()).Where("aggregate_id = ?", id).Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, ev := range evs {
		out[ev.Topic]++
	}
	return out
}

// moneyOK pays the owed refunds and checks captured − refunded = owed for
// the order.
func (e *env) moneyOK(t *testing.T, id string) {
	t.Helper()
	if _, err := e.svc.RecoverPayments(t.Context(), 100); err != nil {
		t.Fatal(err)
	}
	a, err := order.AuditMoney(t.Context(), e.st.DB(t.Context()), time.Now().Add(time.Hour))
	if id != "" {
		a, err = order.AuditMoneyOf(t.Context(), e.st.DB(t.Context()), time.Now().Add(time.Hour), id)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Problems) != 0 {
		t.Fatalf("money audit: %+v", a.Problems)
	}
}

func answers(outcomes ...string) []extensions.FulfilmentAnswer {
	var out []extensions.FulfilmentAnswer
	for _, o := range outcomes {
		out = append(out, extensions.FulfilmentAnswer{Outcome: o, Supplier: "acme", Reference: "R-" + o})
	}
	return out
}

func TestFulfilment(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		sup := &supplier{calls: map[string]int{},
			dispatch: map[string][]extensions.FulfilmentAnswer{
				"ok":        answers("fulfilled"),
				"no":        answers("rejected"),
				"flaky":     answers("error", "transient", "fulfilled"),
				"slow":      answers("pending"),
				"late":      answers("pending"),
				"callback":  answers("pending"),
				"polled":    answers("pending"),
				"forgotten": answers("pending"),
			},
			query: map[string][]extensions.FulfilmentAnswer{
				"polled": answers("pending", "fulfilled"),
			}}
		e := setup(t, st, sup)
		ctx := t.Context()
		w := e.new()

		t.Run("delivered at once", func(t *testing.T) {
			id := e.paid(t, "ok")
			if st, err := w.Sweep(ctx); err != nil || st.Ended < 1 {
				t.Fatalf("sweep: %+v, %v", st, err)
			}
			if s := e.status(t, id); s != "fulfilled" {
				t.Fatalf("status %s", s)
			}
			if n := e.topics(t, id)[events.OrderFulfilled]; n != 1 {
				t.Fatalf("%d order.fulfilled events", n)
			}
			e.moneyOK(t, id)
			levels, _ := stock.Levels(ctx, st.DB(ctx), "topup")
			if levels[0].Frozen != 0 {
				t.Fatalf("stock still frozen: %+v", levels)
			}
		})

		t.Run("rejected is refunded", func(t *testing.T) {
			id := e.paid(t, "no")
			if _, err := w.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if s := e.status(t, id); s != "fulfil_failed" {
				t.Fatalf("status %s", s)
			}
			tp := e.topics(t, id)
			if tp[events.OrderFulfilFailed] != 1 || tp[events.PaymentRefundDue] != 1 {
				t.Fatalf("events %v", tp)
			}
			e.moneyOK(t, id)
			row, _ := w.Get(ctx, id)
			if row.State != store.FulfilmentFailed || row.Reason == "" {
				t.Fatalf("row %+v", row)
			}
		})

		t.Run("transient failures back off, then succeed", func(t *testing.T) {
			id := e.paid(t, "flaky")
			if _, err := w.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			row, _ := w.Get(ctx, id)
			if row.State != store.FulfilmentDispatch || row.LastError == "" || row.Attempts != 1 {
				t.Fatalf("after an error: %+v", row)
			}
			// Not due yet: nothing is taken.
			if st, _ := w.Sweep(ctx); st.Taken != 0 {
				t.Fatalf("took a row before its backoff: %+v", st)
			}
			e.clk.Advance(time.Second)
			if _, err := w.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			row, _ = w.Get(ctx, id)
			if want := e.clk.Now().Add(2 * time.Second).UnixMicro(); row.Attempts != 2 || row.NextAttempt != want {
				t.Fatalf("second backoff: %+v, next want %d", row, want)
			}
			e.clk.Advance(2 * time.Second)
			if _, err := w.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if s := e.status(t, id); s != "fulfilled" || sup.count("dispatch", id) != 3 {
				t.Fatalf("status %s after %d dispatches", s, sup.count("dispatch", id))
			}
		})

		t.Run("a callback answers, duplicates change nothing", func(t *testing.T) {
			id := e.paid(t, "callback")
			if _, err := w.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			body := fmt.Sprintf(`{"orderId":%q,"outcome":"fulfilled","reference":"R-9"}`, id)
			r, err := w.Callback(ctx, "acme", "msg-1", []byte(body))
			if err != nil || r.Status != "fulfilled" || r.Duplicate {
				t.Fatalf("callback: %+v, %v", r, err)
			}
			for _, msg := range []string{"msg-1", "msg-2"} { // a replay, then the same answer again
				r, err = w.Callback(ctx, "acme", msg, []byte(body))
				if err != nil || r.Status != "fulfilled" || !r.Duplicate || r.Late {
					t.Fatalf("%s again: %+v, %v", msg, r, err)
				}
			}
			if _, err := w.Callback(ctx, "acme", "msg-3", []byte(fmt.Sprintf(`{"orderId":%q,"outcome":"failed"}`, id))); !errors.Is(err, ful.ErrConflict) {
				t.Fatalf("a failure after the success: %v", err)
			}
			if _, err := w.Callback(ctx, "other", "msg-4", []byte(body)); !errors.Is(err, ful.ErrNotFound) {
				t.Fatalf("another supplier's callback: %v", err)
			}
			if n := e.topics(t, id)[events.OrderFulfilled]; n != 1 {
				t.Fatalf("%d order.fulfilled events", n)
			}
			e.moneyOK(t, id)
		})

		t.Run("polling finds the answer", func(t *testing.T) {
			id := e.paid(t, "polled")
			if _, err := w.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			e.clk.Advance(time.Minute)
			if _, err := w.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if s := e.status(t, id); s != "fulfilling" {
				t.Fatalf("after one poll: %s", s)
			}
			e.clk.Advance(time.Minute)
			if _, err := w.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if s := e.status(t, id); s != "fulfilled" || sup.count("query", id) != 2 || sup.count("dispatch", id) != 1 {
				t.Fatalf("status %s, %d queries, %d dispatches", s, sup.count("query", id), sup.count("dispatch", id))
			}
		})

		t.Run("the deadline refunds, a late success is raised once", func(t *testing.T) {
			id := e.paid(t, "late")
			if _, err := w.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			// Polls answer "supplier down" until the deadline.
			for range 31 {
				e.clk.Advance(time.Minute)
				if _, err := w.Sweep(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if s := e.status(t, id); s != "fulfil_failed" {
				t.Fatalf("after the deadline: %s", s)
			}
			e.moneyOK(t, id)
			body := fmt.Sprintf(`{"orderId":%q,"outcome":"fulfilled","reference":"R-late"}`, id)
			for i, msg := range []string{"late-1", "late-2"} {
				r, err := w.Callback(ctx, "acme", msg, []byte(body))
				if err != nil || r.Status != "fulfil_failed" || !r.Late || r.Duplicate != (i == 1) {
					t.Fatalf("late callback %d: %+v, %v", i, r, err)
				}
			}
			if n := e.topics(t, id)[events.OrderFulfilmentLate]; n != 1 {
				t.Fatalf("%d order.fulfilment_late events", n)
			}
			late, err := w.Late(ctx, "", 10, false)
			if err != nil || len(late) != 1 || late[0].OrderID != id || late[0].LateReference != "R-late" || late[0].LateSource != "callback" {
				t.Fatalf("late list: %+v, %v", late, err)
			}
			if n, _ := w.UnresolvedLate(ctx); n != 1 {
				t.Fatalf("unresolved %d", n)
			}
			// Never charged twice: one charge, refunded in full.
			pays, _ := e.svc.Payments(ctx, id)
			var charged, refunded int64
			for _, p := range pays {
				switch {
				case p.Kind == payment.KindCharge && p.State == payment.StateSucceeded:
					charged += p.Amount
				case p.Kind == payment.KindRefund && p.State == payment.StateSucceeded:
					refunded += p.Amount
				}
			}
			if charged != 5000 || refunded != 5000 {
				t.Fatalf("charged %d, refunded %d", charged, refunded)
			}
			e.moneyOK(t, id)
			if _, err := w.ResolveLate(ctx, id, "ops"); err != nil {
				t.Fatal(err)
			}
			if _, err := w.ResolveLate(ctx, id, "ops"); !errors.Is(err, ful.ErrNotLate) {
				t.Fatalf("resolved twice: %v", err)
			}
			if n, _ := w.UnresolvedLate(ctx); n != 0 {
				t.Fatalf("unresolved %d", n)
			}
		})

		// An order of top-ups held at two locations is a parent with two
		// sub-orders: paying the parent dispatches each sub-order; a
		// rejection refunds each its share, the two summing to the charge.
		t.Run("sub-orders are fulfilled each on its own", func(t *testing.T) {
			putTopup(t, st, "topup-2", "virtual-2", 3000)
			for _, tc := range []struct{ script, want string }{{"ok", "fulfilled"}, {"no", "fulfil_failed"}} {
				v, err := e.svc.Place(ctx, order.Buyer{ID: "alice"}, order.PlaceRequest{BizCode: "virtual.topup",
					Items: []order.Item{{SKU: "topup", Quantity: 1}, {SKU: "topup-2", Quantity: 1}}, PaymentMethod: "card",
					Attributes: map[string]json.RawMessage{"script": json.RawMessage(strconv.Quote(tc.script))}}, nil)
				if err != nil || len(v.SubOrders) != 2 {
					t.Fatalf("split top-up: %+v, %v", v, err)
				}
				if _, err := e.svc.Pay(ctx, v.ID, order.PayRequest{Key: "k", Card: &payment.Card{Number: payment.CardApproved}, Actor: "alice"}); err != nil {
					t.Fatal(err)
				}
				if _, err := w.Sweep(ctx); err != nil {
					t.Fatal(err)
				}
				for _, k := range v.SubOrders {
					if s := e.status(t, k.ID); s != tc.want {
						t.Fatalf("%s: sub-order %s is %s, want %s", tc.script, k.ID, s, tc.want)
					}
					if n := sup.count("dispatch", k.ID); n != 1 {
						t.Fatalf("%s: sub-order %s dispatched %d times", tc.script, k.ID, n)
					}
				}
				if s := e.status(t, v.ID); s != tc.want {
					t.Fatalf("%s: parent is %s, want %s", tc.script, s, tc.want)
				}
				e.moneyOK(t, v.ID)
			}
		})

		// Reconciliation finds nothing amiss: stock, money (fulfil_failed
		// orders refunded, fulfilled ones owing their total), coupons and
		// the outbox event of every transition.
		t.Run("reconciliation is clean", func(t *testing.T) {
			e.moneyOK(t, "")
			r := reconcile.New(st, reconcile.Options{})
			if err := r.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			run, err := r.Run(ctx, reconcile.KindFull, "test")
			if err != nil || run.Status != reconcile.RunSucceeded || run.Found != 0 || run.Orders == 0 {
				var ms []reconcile.Mismatch
				st.DB(ctx).Find(&ms)
				t.Fatalf("reconciliation: %+v, %v; mismatches %+v", run, err, ms)
			}
		})
	})
}

// Two workers (two tmfd nodes) sweep one database at once: every order is
// dispatched once and ends once.
func TestFulfilmentWorkersShareRows(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		sup := &supplier{calls: map[string]int{}, dispatch: map[string][]extensions.FulfilmentAnswer{"ok": answers("fulfilled")}}
		e := setup(t, st, sup)
		var ids []string
		for range 8 {
			ids = append(ids, e.paid(t, "ok"))
		}
		a, b := e.new(), e.new()
		var ended atomic.Int64
		var wg sync.WaitGroup
		for _, w := range []*ful.Service{a, b} {
			wg.Go(func() {
				s, err := w.Sweep(t.Context())
				if err != nil {
					t.Error(err)
				}
				ended.Add(int64(s.Ended))
			})
		}
		wg.Wait()
		if ended.Load() != 8 {
			t.Fatalf("ended %d, want 8", ended.Load())
		}
		for _, id := range ids {
			if n := sup.count("dispatch", id); n != 1 {
				t.Errorf("order %s dispatched %d times", id, n)
			}
			if s := e.status(t, id); s != "fulfilled" {
				t.Errorf("order %s is %s", id, s)
			}
		}
	})
}

// An identity without a supplier binding completes through fulfilling by
// the platform default; bad fulfilment settings do not compile.
func TestFulfilmentConfig(t *testing.T) {
	t.Parallel()
	k, err := catalog.NewKernel()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		spec kernel.IdentitySpec
		ok   bool
	}{
		{"virtual goods", kernel.IdentitySpec{Code: "virtual", Products: []kernel.ProductRef{{Name: "virtual-goods"}},
			Fulfilment: &kernel.FulfilmentSpec{Deadline: kernel.Duration(time.Hour)}}, true},
		{"deadline too short", kernel.IdentitySpec{Code: "virtual", Products: []kernel.ProductRef{{Name: "virtual-goods"}},
			Fulfilment: &kernel.FulfilmentSpec{Deadline: kernel.Duration(time.Millisecond)}}, false},
		{"poll above the deadline", kernel.IdentitySpec{Code: "virtual", Products: []kernel.ProductRef{{Name: "virtual-goods"}},
			Fulfilment: &kernel.FulfilmentSpec{Deadline: kernel.Duration(time.Minute), PollEvery: kernel.Duration(time.Hour)}}, false},
		{"a shipping lifecycle", kernel.IdentitySpec{Code: "retail", Products: []kernel.ProductRef{{Name: "standard-retail"}},
			Fulfilment: &kernel.FulfilmentSpec{Deadline: kernel.Duration(time.Hour)}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps, err := k.Compile(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{c.spec}})
			if (err == nil) != c.ok {
				t.Fatalf("compile: %v, want ok %v", err, c.ok)
			}
			if !c.ok {
				return
			}
			p, _ := ps.Plan(identity.Code(c.spec.Code))
			f, on := p.Fulfilment()
			if !on || f.PollEvery != time.Minute || !p.Lifecycle().HasState("fulfilling") || p.Lifecycle().HasState("completed") {
				t.Fatalf("plan: %+v %v", f, on)
			}
		})
	}
}
