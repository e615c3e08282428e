package store_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

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
			{OrderID: "o-1", LineNo: 1, SKU: "sku2", Quantity: 2, ListPrice: 1000, UnitPrice: 900, LineTotal: 1800},
			{OrderID: "o-1", LineNo: 2, SKU: "sku1", Quantity: 3, ListPrice: 1000, UnitPrice: 900, LineTotal: 2700},
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
		wantStock(t, s, "sku1", buckets{7, 3, 0, 0})
		wantStock(t, s, "sku2", buckets{3, 2, 0, 0})
		wantSound(t, s)

		_, err = s.GetOrder(ctx, "nope")
		wantErrIs(t, err, store.ErrNotFound)
	})
}

// A CreateOrder that fails must leave nothing behind: no order, lines,
// history, traces, events, moves or stock change.
func TestCreateOrderFailureWritesNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(t *testing.T, s *store.Store)
		order func() store.NewOrder
		check func(t *testing.T, err error)
	}{
		{
			name:  "second reservation out of stock",
			order: func() store.NewOrder { return newOrder("o-x", reserve("a", 2), reserve("b", 5)) },
			check: func(t *testing.T, err error) {
				var oos *store.OutOfStockError
				if !errors.As(err, &oos) || *oos != (store.OutOfStockError{SKU: "b", Location: "wh1", Requested: 5}) {
					t.Fatalf("error = %v, want out of stock of b", err)
				}
			},
		},
		{
			name:  "no stock level",
			order: func() store.NewOrder { return newOrder("o-x", reserve("a", 1), reserve("ghost", 1)) },
			check: func(t *testing.T, err error) {
				var oos *store.OutOfStockError
				if !errors.As(err, &oos) || oos.SKU != "ghost" {
					t.Fatalf("error = %v, want out of stock of ghost", err)
				}
			},
		},
		{
			name:  "same sku twice exceeds stock once merged",
			order: func() store.NewOrder { return newOrder("o-x", reserve("b", 1), reserve("b", 1)) },
			check: func(t *testing.T, err error) {
				var oos *store.OutOfStockError
				if !errors.As(err, &oos) || oos.Requested != 2 {
					t.Fatalf("error = %v, want out of stock of 2", err)
				}
			},
		},
		{
			name:  "duplicate order id",
			setup: func(t *testing.T, s *store.Store) { mustCreate(t, s, newOrder("o-1", reserve("a", 1))) },
			order: func() store.NewOrder {
				n := newOrder("o-1", reserve("a", 3))
				n.Traces = []store.OrderTrace{{Point: "p", Impl: "i", Layer: "platform", Outcome: "ok"}}
				return n
			},
			check: func(t *testing.T, err error) { wantErrIs(t, err, store.ErrDuplicate) },
		},
		{
			name: "idempotency record not claimed",
			order: func() store.NewOrder {
				n := newOrder("o-x", reserve("a", 1))
				n.Idempotency = &store.IdempotencyResult{Principal: "p", Key: "k", StatusCode: 201, Body: "{}"}
				return n
			},
			check: func(t *testing.T, err error) { wantErrIs(t, err, store.ErrNotFound) },
		},
		{
			name:  "zero quantity",
			order: func() store.NewOrder { return newOrder("o-x", reserve("a", 0)) },
			check: func(t *testing.T, err error) { wantErrIs(t, err, store.ErrInvalid) },
		},
		{
			name: "outbox event without topic",
			order: func() store.NewOrder {
				n := newOrder("o-x", reserve("a", 1))
				n.Events = append(n.Events, store.OutboxEvent{Payload: "{}"})
				return n
			},
			check: func(t *testing.T, err error) { wantErrIs(t, err, store.ErrInvalid) },
		},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := storetest.Open(t, s.Dialect())
				ctx := t.Context()
				seed(t, s, "a", 10)
				seed(t, s, "b", 1)
				if c.setup != nil {
					c.setup(t, s)
				}
				n := c.order()
				id := n.Order.ID
				levelsBefore, _ := s.StockLevels(ctx)
				orderBefore, errBefore := s.GetOrder(ctx, id)
				histBefore, _ := s.OrderHistory(ctx, id)
				tracesBefore, _ := s.OrderTraces(ctx, id)
				eventsBefore := pending(t, s)

				err := s.CreateOrder(ctx, n)
				c.check(t, err)

				levels, _ := s.StockLevels(ctx)
				for i := range levels {
					levels[i].UpdatedAt = levelsBefore[i].UpdatedAt
				}
				deepEqual(t, "stock", levels, levelsBefore)
				o, err := s.GetOrder(ctx, id)
				if errBefore != nil {
					wantErrIs(t, err, store.ErrNotFound)
				} else {
					deepEqual(t, "order", o, orderBefore)
				}
				hist, _ := s.OrderHistory(ctx, id)
				traces, _ := s.OrderTraces(ctx, id)
				deepEqual(t, "history", len(hist), len(histBefore))
				deepEqual(t, "traces", traces, tracesBefore)
				deepEqual(t, "outbox", pending(t, s), eventsBefore)
				wantSound(t, s)

				if errBefore != nil {
					// No stray lines, traces or moves: the same order now
					// goes in cleanly (a leftover row would collide on its key).
					ok := newOrder(id, reserve("a", 1))
					ok.Traces = []store.OrderTrace{{Point: "p", Impl: "i", Layer: "platform", Outcome: "ok"}}
					mustCreate(t, s, ok)
					wantSound(t, s)
				}
			})
		}
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
			kind            string
			clearDeadline   bool
			want            buckets
		}{
			{store.StatusPendingPayment, "pay", "paid", store.MoveConfirm, true, buckets{6, 0, 4, 0}},
			{"paid", "ship", "shipped", store.MoveShip, false, buckets{6, 0, 0, 4}},
			{"shipped", "return", "returned", store.MoveReturn, false, buckets{10, 0, 0, 0}},
		}
		for i, st := range steps {
			version := int64(i + 1)
			o, err := s.TransitionOrder(ctx, store.Transition{OrderID: "o-1", ExpectVersion: version, To: st.to,
				History:              store.OrderHistory{Event: st.event, FromState: st.from, Actor: "ops"},
				Moves:                []store.StockChange{{SKU: "sku1", Location: "wh1", Quantity: 4, Kind: st.kind}},
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
			"v3 ship paid→shipped", "v4 return shipped→returned"})
		traces, _ := s.OrderTraces(ctx, "o-1")
		var seqs []int
		for _, tr := range traces {
			seqs = append(seqs, tr.Seq)
		}
		deepEqual(t, "trace seqs", seqs, []int{1, 2, 3, 4})
		if evs := pending(t, s); len(evs) != 4 || evs[3].Topic != "order.returned" || evs[3].AggregateID != "o-1" {
			t.Errorf("outbox = %+v", evs)
		}
		wantSound(t, s)
	})
}

func TestTransitionOrderRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		tr    store.Transition
		check func(t *testing.T, err error)
	}{
		{"stale version", store.Transition{OrderID: "o-1", ExpectVersion: 7, To: "paid"},
			func(t *testing.T, err error) { wantErrIs(t, err, store.ErrVersionConflict) }},
		{"unknown order", store.Transition{OrderID: "o-404", ExpectVersion: 1, To: "paid"},
			func(t *testing.T, err error) { wantErrIs(t, err, store.ErrNotFound) }},
		{"ship before confirm", store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "shipped",
			Moves: []store.StockChange{{SKU: "sku1", Location: "wh1", Quantity: 2, Kind: store.MoveShip}}},
			func(t *testing.T, err error) {
				var se *store.StockStateError
				if !errors.As(err, &se) || se.Kind != store.MoveShip || se.Bucket != "frozen" || se.SKU != "sku1" {
					t.Fatalf("error = %v, want a stock state error on frozen", err)
				}
			}},
		{"release more than reserved, after a valid change", store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "cancelled",
			Moves: []store.StockChange{
				{SKU: "sku2", Location: "wh1", Quantity: 3, Kind: store.MoveRelease},
				{SKU: "sku1", Location: "wh1", Quantity: 2, Kind: store.MoveRelease}, // applied first, then rolled back
			}},
			func(t *testing.T, err error) {
				var se *store.StockStateError
				if !errors.As(err, &se) || se.Kind != store.MoveRelease || se.SKU != "sku2" {
					t.Fatalf("error = %v, want a stock state error on sku2", err)
				}
			}},
		{"adjust is not a transition move", store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "x",
			Moves: []store.StockChange{{SKU: "sku1", Location: "wh1", Quantity: 1, Kind: store.MoveAdjust}}},
			func(t *testing.T, err error) { wantErrIs(t, err, store.ErrInvalid) }},
		{"no target status", store.Transition{OrderID: "o-1", ExpectVersion: 1},
			func(t *testing.T, err error) { wantErrIs(t, err, store.ErrInvalid) }},
		{"idempotency not claimed", store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "paid",
			Idempotency: &store.IdempotencyResult{Principal: "p", Key: "k"}},
			func(t *testing.T, err error) { wantErrIs(t, err, store.ErrNotFound) }},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		seed(t, s, "sku1", 10)
		seed(t, s, "sku2", 10)
		mustCreate(t, s, newOrder("o-1", reserve("sku1", 2), reserve("sku2", 1)))
		before, _ := s.GetOrder(ctx, "o-1")
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tr := c.tr
				tr.History = store.OrderHistory{Event: "e"}
				tr.Traces = []store.OrderTrace{{Point: "p", Impl: "i", Layer: "platform", Outcome: "ok"}}
				tr.Events = []store.OutboxEvent{{Topic: "t", Payload: "{}"}}
				_, err := s.TransitionOrder(ctx, tr)
				c.check(t, err)
				after, _ := s.GetOrder(ctx, "o-1")
				deepEqual(t, "order", after, before)
				hist, _ := s.OrderHistory(ctx, "o-1")
				traces, _ := s.OrderTraces(ctx, "o-1")
				if len(hist) != 1 || len(traces) != 0 || len(pending(t, s)) != 1 {
					t.Errorf("a refused transition wrote: %d history, %d traces, %d events", len(hist), len(traces), len(pending(t, s)))
				}
				wantStock(t, s, "sku1", buckets{8, 2, 0, 0})
				wantStock(t, s, "sku2", buckets{9, 1, 0, 0})
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

// Every path stock takes through a lifecycle, each step a transition with
// its moves applied in the order given.
func TestTransitionStockPaths(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		steps [][]string // kinds per transition
		want  buckets
	}{
		{"cancelled unpaid", [][]string{{store.MoveRelease}}, buckets{10, 0, 0, 0}},
		{"paid", [][]string{{store.MoveConfirm}}, buckets{6, 0, 4, 0}},
		{"paid then rejected", [][]string{{store.MoveConfirm}, {store.MoveUnfreeze}}, buckets{10, 0, 0, 0}},
		{"paid and shipped at once", [][]string{{store.MoveConfirm, store.MoveShip}}, buckets{6, 0, 0, 4}},
		{"shipped then returned", [][]string{{store.MoveConfirm}, {store.MoveShip}, {store.MoveReturn}}, buckets{10, 0, 0, 0}},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				sku, id := fmt.Sprint("sku-", i), fmt.Sprint("o-", i)
				seed(t, s, sku, 10)
				mustCreate(t, s, newOrder(id, reserve(sku, 4)))
				for v, kinds := range c.steps {
					var moves []store.StockChange
					for _, k := range kinds {
						moves = append(moves, store.StockChange{SKU: sku, Location: "wh1", Quantity: 4, Kind: k})
					}
					if _, err := s.TransitionOrder(t.Context(), store.Transition{OrderID: id, ExpectVersion: int64(v + 1),
						To: fmt.Sprint("step-", v), Moves: moves}); err != nil {
						t.Fatalf("step %d %v: %v", v, kinds, err)
					}
				}
				wantStock(t, s, sku, c.want)
				wantSound(t, s)
			})
		}
	})
}
