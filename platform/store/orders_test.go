package store_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

func TestCreateAndGetOrder(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		seed(t, s, "sku1", 10)
		seed(t, s, "sku2", 5)
		// Not UTC and with nanoseconds: the store must give back UTC microseconds.
		created := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
		deadline := created.Add(30 * time.Minute)
		n := newOrder("o-1", reserve("sku2", 2), reserve("sku1", 3))
		n.Order.CreatedAt, n.Order.UpdatedAt, n.Order.PaymentDeadline = created, created, &deadline
		n.Order.Lines[0].Discount, n.Order.Lines[1].Discount = 200, 300
		n.Traces = []store.OrderTrace{
			{Point: "pricing.base", Impl: "pricing.list", Layer: "platform", Source: "builtin", ImplVersion: "1",
				Origin: "retail", DurationNanos: 1200, Outcome: "ok"},
			{Point: "stock.route_warehouse", Impl: "stock.priority-coverage", Layer: "platform", Outcome: "error", Error: "boom"},
		}
		mustCreate(t, s, n)

		got, err := s.GetOrder(ctx, "o-1")
		if err != nil {
			t.Fatal(err)
		}
		want := n.Order
		want.CreatedAt, want.UpdatedAt = utc(created), utc(created)
		d := utc(deadline)
		want.PaymentDeadline, want.Version = &d, 1
		want.Lines = []store.OrderLine{
			{OrderID: "o-1", LineNo: 1, SKU: "sku2", Quantity: 2, ListPrice: 1000, UnitPrice: 900, LineTotal: 1800, Discount: 200},
			{OrderID: "o-1", LineNo: 2, SKU: "sku1", Quantity: 3, ListPrice: 1000, UnitPrice: 900, LineTotal: 2700, Discount: 300},
		}
		deepEqual(t, "order", got, want)
		if got.CreatedAt.Location() != time.UTC || got.CreatedAt.Nanosecond() != 123456000 {
			t.Errorf("created at %v, want UTC with microseconds", got.CreatedAt)
		}

		hist, err := s.OrderHistory(ctx, "o-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 || hist[0].Version != 1 || hist[0].Event != "place" || hist[0].ToState != store.StatusPendingPayment ||
			hist[0].Actor != "buyer-1" || hist[0].CreatedAt.IsZero() {
			t.Errorf("history = %+v", hist)
		}
		traces, err := s.OrderTraces(ctx, "o-1")
		if err != nil {
			t.Fatal(err)
		}
		wantTraces := slices.Clone(n.Traces)
		for i := range wantTraces {
			wantTraces[i].OrderID, wantTraces[i].Seq = "o-1", i+1
		}
		deepEqual(t, "traces", traces, wantTraces)

		evs := pending(t, s)
		if len(evs) != 1 || evs[0].AggregateID != "o-1" || evs[0].Topic != "order.created" || len(evs[0].ID) != 32 ||
			evs[0].Payload != `{"id":"o-1"}` || evs[0].DeliveredAt != nil {
			t.Errorf("outbox = %+v", evs)
		}
		// The reservation step committed with the order.
		wantStock(t, s, "sku1", buckets{7, 3, 0, 0})
		wantStock(t, s, "sku2", buckets{3, 2, 0, 0})
		if n := count(t, s, &stock.LedgerEntry{}, "order_id = ? AND kind = ?", "o-1", stock.KindReserve); n != 2 {
			t.Errorf("%d reserve rows for o-1, want 2", n)
		}
		wantSound(t, s)

		_, err = s.GetOrder(ctx, "nope")
		wantErrIs(t, err, store.ErrNotFound)
	})
}

// A CreateOrder that fails must leave nothing behind: no order, lines,
// history, traces, events, idempotency answer, nor anything a step wrote
// before the failure (stock moved, ledger rows, rows of any table).
func TestCreateOrderFailureWritesNothing(t *testing.T) {
	t.Parallel()
	oos := func(want stock.OutOfStockError) func(t *testing.T, err error) {
		return func(t *testing.T, err error) {
			var e *stock.OutOfStockError
			if !errors.As(err, &e) || *e != want {
				t.Fatalf("error = %v, want %+v", err, want)
			}
		}
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, s *store.Store)
		order func(t *testing.T) store.NewOrder
		check func(t *testing.T, err error)
		// after checks more once the order failed.
		after func(t *testing.T, s *store.Store)
	}{
		{
			name:  "the stock step refuses its second SKU after reserving the first",
			order: func(*testing.T) store.NewOrder { return newOrder("o-x", reserve("a", 2), reserve("b", 5)) },
			check: oos(stock.OutOfStockError{SKU: "b", Location: location, Channel: "app", Requested: 5, Available: 1}),
		},
		{
			name:  "no stock of a SKU",
			order: func(*testing.T) store.NewOrder { return newOrder("o-x", reserve("a", 1), reserve("ghost", 1)) },
			check: oos(stock.OutOfStockError{SKU: "ghost", Location: location, Channel: "app", Requested: 1, Available: 0}),
		},
		{
			name:  "two lines of one SKU exceed its stock together",
			order: func(*testing.T) store.NewOrder { return newOrder("o-x", reserve("b", 1), reserve("b", 1)) },
			check: oos(stock.OutOfStockError{SKU: "b", Location: location, Channel: "app", Requested: 1, Available: 0}),
		},
		{
			name: "a step fails after the stock step reserved",
			order: func(*testing.T) store.NewOrder {
				n := newOrder("o-x", reserve("a", 2), reserve("b", 1))
				n.Steps = append(n.Steps, failStep())
				return n
			},
			check: func(t *testing.T, err error) { wantErrIs(t, err, errBoom) },
		},
		{
			name: "a step's write to another table is rolled back with the order",
			order: func(*testing.T) store.NewOrder {
				n := newOrder("o-x", reserve("a", 1))
				n.Steps = append(n.Steps, func(ctx context.Context, tx *gorm.DB) error {
					return tx.Create(&store.Principal{ID: "written-by-a-step", Roles: "buyer", TokenHash: "t"}).Error
				}, failStep())
				return n
			},
			check: func(t *testing.T, err error) { wantErrIs(t, err, errBoom) },
			after: func(t *testing.T, s *store.Store) {
				_, err := s.GetPrincipal(t.Context(), "written-by-a-step")
				wantErrIs(t, err, store.ErrNotFound)
			},
		},
		{
			name: "a failing step stops the steps after it",
			order: func(t *testing.T) store.NewOrder {
				n := newOrder("o-x", reserve("a", 1))
				n.Steps = append([]store.Step{failStep()}, append(n.Steps, func(context.Context, *gorm.DB) error {
					t.Error("a step ran after a failed one")
					return nil
				})...)
				return n
			},
			check: func(t *testing.T, err error) { wantErrIs(t, err, errBoom) },
		},
		{
			name:  "a step refuses its arguments",
			order: func(*testing.T) store.NewOrder { return newOrder("o-x", reserve("a", 0)) },
			check: func(t *testing.T, err error) { wantErrIs(t, err, stock.ErrInvalid) },
		},
		{
			name:  "duplicate order id",
			setup: func(t *testing.T, s *store.Store) { mustCreate(t, s, newOrder("o-1", reserve("a", 1))) },
			order: func(*testing.T) store.NewOrder {
				n := newOrder("o-1", reserve("a", 3))
				n.Traces = []store.OrderTrace{{Point: "p", Impl: "i", Layer: "platform", Outcome: "ok"}}
				return n
			},
			check: func(t *testing.T, err error) { wantErrIs(t, err, store.ErrDuplicate) },
		},
		{
			name: "idempotency record not claimed",
			order: func(*testing.T) store.NewOrder {
				n := newOrder("o-x", reserve("a", 1))
				n.Idempotency = &store.IdempotencyResult{Principal: "p", Key: "k", StatusCode: 201, Body: "{}"}
				return n
			},
			check: func(t *testing.T, err error) { wantErrIs(t, err, store.ErrNotFound) },
		},
		{
			name: "claimed idempotency record, failing step: no answer recorded",
			setup: func(t *testing.T, s *store.Store) {
				if _, won, err := s.ClaimIdempotency(t.Context(), "p", "k", "h", time.Hour); err != nil || !won {
					t.Fatalf("claim: %v, %v", won, err)
				}
			},
			order: func(*testing.T) store.NewOrder {
				n := newOrder("o-x", reserve("a", 1))
				n.Idempotency = &store.IdempotencyResult{Principal: "p", Key: "k", StatusCode: 201, Body: "{}"}
				n.Steps = append(n.Steps, failStep())
				return n
			},
			check: func(t *testing.T, err error) { wantErrIs(t, err, errBoom) },
			after: func(t *testing.T, s *store.Store) {
				rec, won, err := s.ClaimIdempotency(t.Context(), "p", "k", "h", time.Hour)
				if err != nil || won || rec.State != store.IdempotencyRunning || rec.StatusCode != 0 || rec.Body != "" {
					t.Errorf("idempotency record after a failed order = %+v, %v, %v; want it still running", rec, won, err)
				}
			},
		},
		{
			name: "outbox event without topic",
			order: func(*testing.T) store.NewOrder {
				n := newOrder("o-x", reserve("a", 1))
				n.Events = append(n.Events, store.OutboxEvent{Payload: "{}"})
				return n
			},
			check: func(t *testing.T, err error) { wantErrIs(t, err, store.ErrInvalid) },
		},
	}
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := storetest.Open(t, dialect)
				ctx := t.Context()
				seed(t, s, "a", 10)
				seed(t, s, "b", 1)
				if c.setup != nil {
					c.setup(t, s)
				}
				n := c.order(t)
				id := n.Order.ID
				stockBefore := stockNow(t, s)
				orderBefore, errBefore := s.GetOrder(ctx, id)
				linesBefore := count(t, s, &store.OrderLine{}, "")
				histBefore, _ := s.OrderHistory(ctx, id)
				tracesBefore, _ := s.OrderTraces(ctx, id)
				eventsBefore := pending(t, s)

				err := s.CreateOrder(ctx, n)
				c.check(t, err)

				deepEqual(t, "stock", stockNow(t, s), stockBefore)
				o, err := s.GetOrder(ctx, id)
				if errBefore != nil {
					wantErrIs(t, err, store.ErrNotFound)
				} else {
					deepEqual(t, "order", o, orderBefore)
				}
				deepEqual(t, "lines", count(t, s, &store.OrderLine{}, ""), linesBefore)
				hist, _ := s.OrderHistory(ctx, id)
				traces, _ := s.OrderTraces(ctx, id)
				deepEqual(t, "history", len(hist), len(histBefore))
				deepEqual(t, "traces", traces, tracesBefore)
				deepEqual(t, "outbox", pending(t, s), eventsBefore)
				if c.after != nil {
					c.after(t, s)
				}
				wantSound(t, s)

				if errBefore != nil {
					// No stray lines, traces or ledger rows: the same order
					// now goes in cleanly (a leftover row would collide on
					// its key, a leftover reserve row would skip the line).
					ok := newOrder(id, reserve("a", 1))
					ok.Traces = []store.OrderTrace{{Point: "p", Impl: "i", Layer: "platform", Outcome: "ok"}}
					mustCreate(t, s, ok)
					wantStock(t, s, "a", buckets{9, 1, 0, 0})
					wantSound(t, s)
				}
			})
		}
	})
}

// ctxKey marks the caller's context, to see that steps get it.
type ctxKey struct{}

// The steps run inside the store's transaction, after its other writes,
// with the caller's context: they see the order, its lines, history and
// events (and, in a transition, the new status and version) through tx, and
// each step sees what the steps before it wrote.
func TestStepsRunInsideTheTransaction(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := context.WithValue(t.Context(), ctxKey{}, "caller")
		seed(t, s, "sku1", 10)
		if _, won, err := s.ClaimIdempotency(ctx, "alice", "k", "h", time.Hour); err != nil || !won {
			t.Fatalf("claim: %v, %v", won, err)
		}
		type seen struct {
			Caller                               any
			Status                               string
			Version, Lines, History, Events, Res int64
			Answer                               string
		}
		look := func(ctx context.Context, tx *gorm.DB, id string) (seen, error) {
			var o store.Order
			if err := tx.Where("id = ?", id).Take(&o).Error; err != nil {
				return seen{}, err
			}
			v := seen{Caller: ctx.Value(ctxKey{}), Status: o.Status, Version: o.Version}
			for _, q := range []struct {
				model any
				where string
				n     *int64
			}{
				{&store.OrderLine{}, "order_id = ?", &v.Lines},
				{&store.OrderHistory{}, "order_id = ?", &v.History},
				{&store.OutboxEvent{}, "aggregate_id = ?", &v.Events},
				{&stock.LedgerEntry{}, "order_id = ?", &v.Res},
			} {
				if err := tx.Model(q.model).Where(q.where, id).Count(q.n).Error; err != nil {
					return seen{}, err
				}
			}
			var rec store.IdempotencyRecord
			if err := tx.Where("principal = ? AND idem_key = ?", "alice", "k").Take(&rec).Error; err != nil {
				return seen{}, err
			}
			v.Answer = rec.State
			return v, nil
		}

		var got []seen
		observe := func(ctx context.Context, tx *gorm.DB) error {
			v, err := look(ctx, tx, "o-1")
			got = append(got, v)
			return err
		}
		n := newOrder("o-1", reserve("sku1", 2))
		n.Order.Lines = append(n.Order.Lines, store.OrderLine{SKU: "gift-wrap", Quantity: 1})
		n.Idempotency = &store.IdempotencyResult{Principal: "alice", Key: "k", StatusCode: 201, Body: "{}"}
		n.Steps = []store.Step{observe, n.Steps[0], observe}
		if err := s.CreateOrder(ctx, n); err != nil {
			t.Fatal(err)
		}
		deepEqual(t, "what the placement's steps saw", got, []seen{
			{Caller: "caller", Status: store.StatusPendingPayment, Version: 1, Lines: 2, History: 1, Events: 1, Res: 0, Answer: store.IdempotencyDone},
			{Caller: "caller", Status: store.StatusPendingPayment, Version: 1, Lines: 2, History: 1, Events: 1, Res: 1, Answer: store.IdempotencyDone},
		})

		got = nil
		if _, err := s.TransitionOrder(ctx, store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "paid",
			Steps: []store.Step{observe, moveStep("o-1", stock.KindConfirm), observe}}); err != nil {
			t.Fatal(err)
		}
		deepEqual(t, "what the transition's steps saw", got, []seen{
			{Caller: "caller", Status: "paid", Version: 2, Lines: 2, History: 1, Events: 1, Res: 1, Answer: store.IdempotencyDone},
			{Caller: "caller", Status: "paid", Version: 2, Lines: 2, History: 1, Events: 1, Res: 2, Answer: store.IdempotencyDone},
		})
		wantStock(t, s, "sku1", buckets{8, 0, 2, 0})
		wantSound(t, s)
	})
}

func TestListOrdersKeysetPagination(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Few distinct creation times, some a microsecond apart, many orders on each.
	offsets := []time.Duration{0, time.Microsecond, time.Second, 1500 * time.Millisecond}
	const n = 57
	type row struct {
		id, buyer, status, biz string
		created                time.Time
	}
	var rows []row
	for i := range n {
		r := row{id: fmt.Sprintf("o-%03d", (i*37)%n), buyer: []string{"alice", "bob"}[i%2], status: store.StatusPendingPayment,
			biz: "retail", created: base.Add(offsets[(i*7)%len(offsets)])}
		if i%3 == 0 {
			r.status = "paid"
		}
		if i%5 == 0 {
			r.biz = "virtual"
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.id, b.id)) })

	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		for _, r := range rows {
			o := newOrder(r.id)
			o.Order.BuyerID, o.Order.Status, o.Order.BizCode, o.Order.CreatedAt = r.buyer, r.status, r.biz, r.created
			o.Order.Lines = []store.OrderLine{{SKU: "x", Quantity: 1}, {SKU: "y", Quantity: 2}}
			mustCreate(t, s, o)
		}
		queries := []struct {
			name  string
			q     store.OrderQuery
			match func(row) bool
		}{
			{"all", store.OrderQuery{Limit: 5}, func(row) bool { return true }},
			{"one page", store.OrderQuery{Limit: 1000}, func(row) bool { return true }},
			{"buyer", store.OrderQuery{BuyerID: "alice", Limit: 4}, func(r row) bool { return r.buyer == "alice" }},
			{"status", store.OrderQuery{Status: "paid", Limit: 3}, func(r row) bool { return r.status == "paid" }},
			{"biz", store.OrderQuery{BizCode: "virtual", Limit: 2}, func(r row) bool { return r.biz == "virtual" }},
			{"buyer and status", store.OrderQuery{BuyerID: "bob", Status: store.StatusPendingPayment, Limit: 7},
				func(r row) bool { return r.buyer == "bob" && r.status == store.StatusPendingPayment }},
		}
		for _, qc := range queries {
			t.Run(qc.name, func(t *testing.T) {
				var want []string
				for _, r := range rows {
					if qc.match(r) {
						want = append(want, r.id)
					}
				}
				var got []string
				q := qc.q
				for pages := 0; ; pages++ {
					if pages > n {
						t.Fatal("pagination does not end")
					}
					page, err := s.ListOrders(t.Context(), q)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > q.Limit {
						t.Fatalf("page of %d, limit %d", len(page), q.Limit)
					}
					for _, o := range page {
						got = append(got, o.ID)
						if len(o.Lines) != 2 || o.Lines[0].LineNo != 1 || o.Lines[1].SKU != "y" {
							t.Errorf("order %s lines = %+v", o.ID, o.Lines)
						}
					}
					if len(page) < q.Limit {
						break
					}
					c := page[len(page)-1].Cursor()
					q.After = &c
				}
				deepEqual(t, "ids, in order", got, want)
			})
		}
	})
}

func TestTransitionOrderLifecycle(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		seed(t, s, "sku1", 10)
		deadline := time.Now().Add(time.Hour)
		n := newOrder("o-1", reserve("sku1", 4))
		n.Order.PaymentDeadline = &deadline
		n.Traces = []store.OrderTrace{{Point: "pricing.base", Impl: "list", Layer: "platform", Outcome: "ok"}}
		mustCreate(t, s, n)

		steps := []struct {
			from, event, to string
			kinds           []string
			clearDeadline   bool
			want            buckets
		}{
			{store.StatusPendingPayment, "pay", "paid", []string{stock.KindConfirm}, true, buckets{6, 0, 4, 0}},
			{"paid", "ship", "shipped", []string{stock.KindShip}, false, buckets{6, 0, 0, 4}},
			{"shipped", "receive", "completed", nil, false, buckets{6, 0, 0, 4}},
		}
		for i, st := range steps {
			version := int64(i + 1)
			o, err := s.TransitionOrder(ctx, store.Transition{OrderID: "o-1", ExpectVersion: version, To: st.to,
				History:              store.OrderHistory{Event: st.event, FromState: st.from, Actor: "ops"},
				Steps:                moveSteps("o-1", st.kinds...),
				Traces:               []store.OrderTrace{{Point: "order.guard", Impl: "g", Layer: "platform", Outcome: "ok"}},
				Events:               []store.OutboxEvent{{Topic: "order." + st.to, Payload: "{}"}},
				ClearPaymentDeadline: st.clearDeadline})
			if err != nil {
				t.Fatalf("%s: %v", st.event, err)
			}
			if o.Status != st.to || o.Version != version+1 || len(o.Lines) != 1 || o.PaymentDeadline != nil {
				t.Errorf("after %s: %+v", st.event, o)
			}
			got, _ := s.GetOrder(ctx, "o-1")
			deepEqual(t, "returned order = stored order", o, got)
			wantStock(t, s, "sku1", st.want)
		}
		hist, _ := s.OrderHistory(ctx, "o-1")
		var trail []string
		for _, h := range hist {
			trail = append(trail, fmt.Sprintf("v%d %s %s→%s", h.Version, h.Event, h.FromState, h.ToState))
		}
		deepEqual(t, "history", trail, []string{"v1 place →pending_payment", "v2 pay pending_payment→paid",
			"v3 ship paid→shipped", "v4 receive shipped→completed"})
		traces, _ := s.OrderTraces(ctx, "o-1")
		var seqs []int
		for _, tr := range traces {
			seqs = append(seqs, tr.Seq)
		}
		deepEqual(t, "trace seqs", seqs, []int{1, 2, 3, 4})
		if evs := pending(t, s); len(evs) != 4 || evs[3].Topic != "order.completed" || evs[3].AggregateID != "o-1" {
			t.Errorf("outbox = %+v", evs)
		}
		wantSound(t, s)
	})
}

// A refused transition writes nothing: not the status, history, traces or
// events, and nothing its steps did before the refusal.
func TestTransitionOrderRefusals(t *testing.T) {
	t.Parallel()
	stateErr := func(want stock.StateError) func(t *testing.T, err error) {
		return func(t *testing.T, err error) {
			var e *stock.StateError
			if !errors.As(err, &e) || *e != want {
				t.Fatalf("error = %v, want %+v", err, want)
			}
		}
	}
	cases := []struct {
		name  string
		tr    store.Transition
		check func(t *testing.T, err error)
	}{
		{"stale version", store.Transition{OrderID: "o-1", ExpectVersion: 7, To: "paid"},
			func(t *testing.T, err error) { wantErrIs(t, err, store.ErrVersionConflict) }},
		{"stale version, with steps", store.Transition{OrderID: "o-1", ExpectVersion: 2, To: "paid",
			Steps: []store.Step{func(context.Context, *gorm.DB) error { return errors.New("a step ran after a failed compare-and-set") }}},
			func(t *testing.T, err error) { wantErrIs(t, err, store.ErrVersionConflict) }},
		{"unknown order", store.Transition{OrderID: "o-404", ExpectVersion: 1, To: "paid"},
			func(t *testing.T, err error) { wantErrIs(t, err, store.ErrNotFound) }},
		{"ship before confirm", store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "shipped",
			Steps: moveSteps("o-1", stock.KindShip)},
			stateErr(stock.StateError{OrderID: "o-1", LineNo: 1, Part: 1, SKU: "sku1", Location: location, Kind: stock.KindShip,
				Quantity: 2, Reason: "not confirmed"})},
		{"a step fails after a stock move", store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "cancelled",
			Steps: append(moveSteps("o-1", stock.KindRelease), failStep())},
			func(t *testing.T, err error) { wantErrIs(t, err, errBoom) }},
		{"release then confirm: the confirm refuses, the release is rolled back", store.Transition{OrderID: "o-1", ExpectVersion: 1,
			To: "paid", Steps: moveSteps("o-1", stock.KindRelease, stock.KindConfirm)},
			stateErr(stock.StateError{OrderID: "o-1", LineNo: 1, Part: 1, SKU: "sku1", Location: location, Kind: stock.KindConfirm,
				Quantity: 2, Reason: "released"})},
		{"unknown move kind", store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "x",
			Steps: moveSteps("o-1", stock.KindAdjust)},
			func(t *testing.T, err error) { wantErrIs(t, err, stock.ErrInvalid) }},
		{"no target status", store.Transition{OrderID: "o-1", ExpectVersion: 1},
			func(t *testing.T, err error) { wantErrIs(t, err, store.ErrInvalid) }},
		{"outbox event without topic", store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "paid",
			Events: []store.OutboxEvent{{Payload: "{}"}}},
			func(t *testing.T, err error) { wantErrIs(t, err, store.ErrInvalid) }},
		{"idempotency not claimed", store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "paid",
			Steps: moveSteps("o-1", stock.KindConfirm), Idempotency: &store.IdempotencyResult{Principal: "p", Key: "k"}},
			func(t *testing.T, err error) { wantErrIs(t, err, store.ErrNotFound) }},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		seed(t, s, "sku1", 10)
		seed(t, s, "sku2", 10)
		mustCreate(t, s, newOrder("o-1", reserve("sku1", 2), reserve("sku2", 1)))
		before, _ := s.GetOrder(ctx, "o-1")
		stockBefore := stockNow(t, s)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tr := c.tr
				tr.History = store.OrderHistory{Event: "e"}
				tr.Traces = []store.OrderTrace{{Point: "p", Impl: "i", Layer: "platform", Outcome: "ok"}}
				tr.Events = append([]store.OutboxEvent{{Topic: "t", Payload: "{}"}}, tr.Events...)
				_, err := s.TransitionOrder(ctx, tr)
				c.check(t, err)
				after, _ := s.GetOrder(ctx, "o-1")
				deepEqual(t, "order", after, before)
				hist, _ := s.OrderHistory(ctx, "o-1")
				traces, _ := s.OrderTraces(ctx, "o-1")
				if len(hist) != 1 || len(traces) != 0 || len(pending(t, s)) != 1 {
					t.Errorf("a refused transition wrote: %d history, %d traces, %d events", len(hist), len(traces), len(pending(t, s)))
				}
				deepEqual(t, "stock", stockNow(t, s), stockBefore)
				wantStock(t, s, "sku1", buckets{8, 2, 0, 0})
				wantStock(t, s, "sku2", buckets{9, 1, 0, 0})
				wantSound(t, s)
			})
		}
		// No ledger row of a refused transition survived (a release row
		// would make this confirm refuse as released).
		mustTransition(t, s, store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "paid", Steps: moveSteps("o-1", stock.KindConfirm)})
		wantStock(t, s, "sku1", buckets{8, 0, 2, 0})
		wantStock(t, s, "sku2", buckets{9, 0, 1, 0})
		wantSound(t, s)
	})
}

// The steps of one transition run in the order given, in its one
// transaction: confirm then ship moves the stock to shipped at once, ship
// then confirm refuses and moves nothing.
func TestTransitionStepsRunInOrder(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		kinds   []string
		refused bool
		want    buckets
	}{
		{"confirm then ship", []string{stock.KindConfirm, stock.KindShip}, false, buckets{6, 0, 0, 4}},
		{"confirm then unfreeze", []string{stock.KindConfirm, stock.KindUnfreeze}, false, buckets{10, 0, 0, 0}},
		{"ship then confirm", []string{stock.KindShip, stock.KindConfirm}, true, buckets{6, 4, 0, 0}},
		{"confirm, ship, confirm again (a no-op)", []string{stock.KindConfirm, stock.KindShip, stock.KindConfirm}, false, buckets{6, 0, 0, 4}},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				sku, id := fmt.Sprint("sku-", i), fmt.Sprint("o-", i)
				seed(t, s, sku, 10)
				mustCreate(t, s, newOrder(id, reserve(sku, 4)))
				o, err := s.TransitionOrder(t.Context(), store.Transition{OrderID: id, ExpectVersion: 1, To: "next",
					Steps: moveSteps(id, c.kinds...)})
				var se *stock.StateError
				switch {
				case c.refused && !errors.As(err, &se):
					t.Fatalf("error = %v, want a stock state error", err)
				case !c.refused && (err != nil || o.Version != 2):
					t.Fatalf("transition: %+v, %v", o, err)
				}
				wantStock(t, s, sku, c.want)
				wantSound(t, s)
			})
		}
	})
}

func TestDueForPaymentTimeout(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	orders := []struct {
		id       string
		status   string
		deadline time.Duration // from now; 0 = none
	}{
		{"a", store.StatusPendingPayment, -10 * time.Minute},
		{"b", store.StatusPendingPayment, -20 * time.Minute},
		{"c", store.StatusPendingPayment, 10 * time.Minute},
		{"d", "paid", -30 * time.Minute},
		{"e", store.StatusPendingPayment, 0},
		{"f", store.StatusPendingPayment, -time.Microsecond},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		for _, o := range orders {
			n := newOrder(o.id)
			n.Order.Status = o.status
			n.Order.Lines = []store.OrderLine{{SKU: "x", Quantity: 1}}
			if o.deadline != 0 {
				d := now.Add(o.deadline)
				n.Order.PaymentDeadline = &d
			}
			mustCreate(t, s, n)
		}
		ids := func(limit int) []string {
			due, err := s.DueForPaymentTimeout(ctx, now, limit)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, o := range due {
				out = append(out, o.ID)
				if len(o.Lines) != 1 {
					t.Errorf("due order %s without lines", o.ID)
				}
			}
			return out
		}
		deepEqual(t, "due", ids(10), []string{"b", "a", "f"})
		deepEqual(t, "due, limit 2", ids(2), []string{"b", "a"})
		if _, err := s.TransitionOrder(ctx, store.Transition{OrderID: "b", ExpectVersion: 1, To: "cancelled", ClearPaymentDeadline: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TransitionOrder(ctx, store.Transition{OrderID: "a", ExpectVersion: 1, To: "paid"}); err != nil {
			t.Fatal(err)
		}
		deepEqual(t, "due after cancel and pay", ids(10), []string{"f"})
	})
}

// UnpaidOf counts a buyer's orders in the unpaid statuses and the quantity
// of each SKU they hold, and nothing of other buyers or paid orders.
func TestUnpaidOf(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		seed(t, s, "sku1", 100)
		seed(t, s, "sku2", 100)
		mustCreate(t, s, newOrder("u-1", reserve("sku1", 4), reserve("sku2", 1)))
		mustCreate(t, s, newOrder("u-2", reserve("sku1", 3)))
		paid := newOrder("u-3", reserve("sku1", 5))
		paid.Order.Status = "paid"
		mustCreate(t, s, paid)
		other := newOrder("u-4", reserve("sku1", 7))
		other.Order.BuyerID = "buyer-2"
		mustCreate(t, s, other)

		got, err := s.UnpaidOf(ctx, "buyer-1", []string{store.StatusPendingPayment}, []string{"sku1", "sku9"})
		if err != nil {
			t.Fatal(err)
		}
		deepEqual(t, "unpaid", got, store.Unpaid{Orders: 2, Quantity: map[string]int64{"sku1": 7}})
		got, err = s.UnpaidOf(ctx, "nobody", []string{store.StatusPendingPayment}, []string{"sku1"})
		if err != nil {
			t.Fatal(err)
		}
		deepEqual(t, "nobody's", got, store.Unpaid{Quantity: map[string]int64{}})
	})
}
