package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// refundOf refunds a line's net amount (total less its discount share) in
// proportion, rounded so that the refunds of all its units add up to
// exactly the net amount.
func refundOf(l store.OrderLine, before, qty int64) int64 {
	net := l.LineTotal - l.Discount
	return net*(before+qty)/l.Quantity - net*before/l.Quantity
}

// ret is a return line: line number and quantity.
type ret struct {
	line int
	qty  int64
}

// newReturn opens a return whose only consequence is an event.
func newReturn(orderID, returnID string, lines []ret) store.NewReturn {
	r := store.NewReturn{OrderID: orderID, ReturnID: returnID, Actor: "alice"}
	for _, l := range lines {
		r.Lines = append(r.Lines, store.OrderReturn{LineNo: l.line, Quantity: l.qty})
	}
	r.Then = func(store.OrderReturnRequest) ([]store.Step, []store.OutboxEvent) {
		return nil, []store.OutboxEvent{{Topic: "order.return_requested", Payload: `{}`}}
	}
	return r
}

// receive moves a return to received: the refunds are computed, the stock
// comes back (the stock domain's Return) and the event carries the refund;
// extra steps run after them.
func receive(orderID, returnID string, extra ...store.Step) store.ReturnMove {
	return store.ReturnMove{OrderID: orderID, ReturnID: returnID, To: store.ReturnReceived, From: []string{store.ReturnApproved},
		Actor: "ops", RefundOf: refundOf,
		Audit: &store.AuditEntry{Actor: "ops", Action: "order.return.receive", Verb: "receive", TargetType: "return", TargetID: orderID + "/" + returnID},
		Then: func(r store.OrderReturnRequest) ([]store.Step, []store.OutboxEvent) {
			req := stock.ReturnRequest{OrderID: orderID, ReturnID: returnID}
			var refund int64
			for _, l := range r.Lines {
				req.Lines = append(req.Lines, stock.LineQty{LineNo: l.LineNo, SKU: l.SKU, Quantity: l.Quantity})
				refund += l.Refund
			}
			steps := []store.Step{func(ctx context.Context, tx *gorm.DB) error { return stock.Return(ctx, tx, req) }}
			return append(steps, extra...), []store.OutboxEvent{{Topic: "order.returned", Payload: fmt.Sprintf(`{"refund":%d}`, refund)}}
		}}
}

// move is a step without refund or stock: approve, reject, cancel.
func move(orderID, returnID, to string, from ...string) store.ReturnMove {
	return store.ReturnMove{OrderID: orderID, ReturnID: returnID, To: to, From: from, Actor: "ops", Reason: to + " because",
		Then: func(store.OrderReturnRequest) ([]store.Step, []store.OutboxEvent) {
			return nil, []store.OutboxEvent{{Topic: "order.return_" + to, Payload: `{}`}}
		}}
}

// placeShipped places an order of 3 × a (3000, discount 200) and 2 × b
// (1000, no discount), pays and ships it.
func placeShipped(t *testing.T, s *store.Store, id string) {
	t.Helper()
	n := newOrder(id, reserve("a", 3), reserve("b", 2))
	n.Order.Lines[0].LineTotal, n.Order.Lines[0].Discount = 3000, 200
	n.Order.Lines[1].LineTotal, n.Order.Lines[1].Discount = 1000, 0
	mustCreate(t, s, n)
	mustTransition(t, s, store.Transition{OrderID: id, ExpectVersion: 1, To: "paid", Steps: moveSteps(id, stock.KindConfirm)})
	mustTransition(t, s, store.Transition{OrderID: id, ExpectVersion: 2, To: "shipped", Steps: moveSteps(id, stock.KindShip)})
}

// A sequence of return steps on one shipped order, each checked for its
// answer, what it wrote (events, audit) and the stock after it: opening a
// return moves no stock and refunds nothing, open returns count against
// what is left, rejected and cancelled ones do not, receiving refunds and
// restocks once; a refused or failed step writes nothing.
func TestReturnRequests(t *testing.T) {
	t.Parallel()
	exceeds := func(want store.ReturnExceedsError) func(t *testing.T, err error) {
		return func(t *testing.T, err error) {
			var e *store.ReturnExceedsError
			if !errors.As(err, &e) || *e != want {
				t.Fatalf("error = %v, want %+v", err, want)
			}
		}
	}
	state := func(id, now, to string) func(t *testing.T, err error) {
		return func(t *testing.T, err error) {
			var e *store.ReturnStateError
			if !errors.As(err, &e) || *e != (store.ReturnStateError{OrderID: "o-1", ReturnID: id, State: now, To: to}) {
				t.Fatalf("error = %v, want %s → %s refused", err, now, to)
			}
		}
	}
	is := func(target error) func(t *testing.T, err error) {
		return func(t *testing.T, err error) { wantErrIs(t, err, target) }
	}
	shipped := buckets{6, 1, 0, 3}
	steps := []struct {
		name  string
		open  *store.NewReturn
		move  *store.ReturnMove
		check func(t *testing.T, err error) // a refusal
		// What the step answers: the return's state and refunds by line.
		state    string
		refunds  map[int]int64
		replayed bool
		audited  bool
		a, b     buckets
	}{
		{name: "open one unit of a", open: ptr(newReturn("o-1", "r1", []ret{{1, 1}})), state: store.ReturnRequested,
			refunds: map[int]int64{1: 0}, a: shipped, b: buckets{8, 0, 0, 2}},
		{name: "the same return id again answers the first return", open: ptr(newReturn("o-1", "r1", []ret{{2, 2}})),
			state: store.ReturnRequested, refunds: map[int]int64{1: 0}, replayed: true, a: shipped, b: buckets{8, 0, 0, 2}},
		{name: "open two more of a", open: ptr(newReturn("o-1", "r2", []ret{{1, 2}})), state: store.ReturnRequested,
			refunds: map[int]int64{1: 0}, a: shipped, b: buckets{8, 0, 0, 2}},
		{name: "open requests count: nothing of a left", open: ptr(newReturn("o-1", "r3", []ret{{2, 1}, {1, 1}})),
			check: exceeds(store.ReturnExceedsError{OrderID: "o-1", LineNo: 1, SKU: "a", Requested: 1, Left: 0}), a: shipped, b: buckets{8, 0, 0, 2}},
		{name: "receiving a requested return is refused", move: ptr(receive("o-1", "r1")),
			check: state("r1", store.ReturnRequested, store.ReturnReceived), a: shipped, b: buckets{8, 0, 0, 2}},
		{name: "approve r1", move: ptr(move("o-1", "r1", store.ReturnApproved, store.ReturnRequested)), state: store.ReturnApproved,
			refunds: map[int]int64{1: 0}, a: shipped, b: buckets{8, 0, 0, 2}},
		{name: "approve r1 again", move: ptr(move("o-1", "r1", store.ReturnApproved, store.ReturnRequested)), state: store.ReturnApproved,
			refunds: map[int]int64{1: 0}, replayed: true, a: shipped, b: buckets{8, 0, 0, 2}},
		{name: "a receipt whose step fails writes nothing", move: ptr(receive("o-1", "r1", failStep())), check: is(errBoom),
			a: shipped, b: buckets{8, 0, 0, 2}},
		{name: "receive r1: refund and restock", move: ptr(receive("o-1", "r1")), state: store.ReturnReceived,
			refunds: map[int]int64{1: 933}, audited: true, a: buckets{7, 1, 0, 2}, b: buckets{8, 0, 0, 2}},
		{name: "receive r1 again: nothing more", move: ptr(receive("o-1", "r1")), state: store.ReturnReceived,
			refunds: map[int]int64{1: 933}, replayed: true, a: buckets{7, 1, 0, 2}, b: buckets{8, 0, 0, 2}},
		{name: "cancelling a received return is refused", move: ptr(move("o-1", "r1", store.ReturnCancelled, store.ReturnRequested, store.ReturnApproved)),
			check: state("r1", store.ReturnReceived, store.ReturnCancelled), a: buckets{7, 1, 0, 2}, b: buckets{8, 0, 0, 2}},
		{name: "reject r2", move: ptr(move("o-1", "r2", store.ReturnRejected, store.ReturnRequested)), state: store.ReturnRejected,
			refunds: map[int]int64{1: 0}, a: buckets{7, 1, 0, 2}, b: buckets{8, 0, 0, 2}},
		{name: "a rejected return frees its units", open: ptr(newReturn("o-1", "r3", []ret{{1, 2}, {2, 1}})), state: store.ReturnRequested,
			refunds: map[int]int64{1: 0, 2: 0}, a: buckets{7, 1, 0, 2}, b: buckets{8, 0, 0, 2}},
		{name: "cancel r3", move: ptr(move("o-1", "r3", store.ReturnCancelled, store.ReturnRequested, store.ReturnApproved)),
			state: store.ReturnCancelled, refunds: map[int]int64{1: 0, 2: 0}, a: buckets{7, 1, 0, 2}, b: buckets{8, 0, 0, 2}},
		{name: "so are a cancelled one's", open: ptr(newReturn("o-1", "r4", []ret{{1, 2}, {2, 2}})), state: store.ReturnRequested,
			refunds: map[int]int64{1: 0, 2: 0}, a: buckets{7, 1, 0, 2}, b: buckets{8, 0, 0, 2}},
		{name: "approve r4", move: ptr(move("o-1", "r4", store.ReturnApproved, store.ReturnRequested)), state: store.ReturnApproved,
			refunds: map[int]int64{1: 0, 2: 0}, a: buckets{7, 1, 0, 2}, b: buckets{8, 0, 0, 2}},
		{name: "receive r4: the last units refund the rest exactly", move: ptr(receive("o-1", "r4")), state: store.ReturnReceived,
			refunds: map[int]int64{1: 1867, 2: 1000}, audited: true, a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
		{name: "nothing left", open: ptr(newReturn("o-1", "r5", []ret{{2, 1}})),
			check: exceeds(store.ReturnExceedsError{OrderID: "o-1", LineNo: 2, SKU: "b", Requested: 1, Left: 0}), a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
		{name: "a line the order does not have", open: ptr(newReturn("o-1", "r6", []ret{{9, 1}})), check: is(store.ErrInvalid),
			a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
		{name: "a quantity of zero", open: ptr(newReturn("o-1", "r6", []ret{{1, 0}})), check: is(store.ErrInvalid),
			a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
		{name: "no lines", open: ptr(newReturn("o-1", "r6", nil)), check: is(store.ErrInvalid), a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
		{name: "no return id", open: ptr(newReturn("o-1", "", []ret{{1, 1}})), check: is(store.ErrInvalid),
			a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
		{name: "an order that does not exist", open: ptr(newReturn("o-404", "r6", []ret{{1, 1}})), check: is(store.ErrNotFound),
			a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
		{name: "a return that does not exist", move: ptr(receive("o-1", "r404")), check: is(store.ErrReturnNotFound),
			a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
		{name: "a step of an order that does not exist", move: ptr(receive("o-404", "r1")), check: is(store.ErrNotFound),
			a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		seed(t, s, "a", 10)
		seed(t, s, "b", 10)
		placeShipped(t, s, "o-1")
		mustCreate(t, s, newOrder("o-2", reserve("a", 1)))
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				eventsBefore, stockBefore := pending(t, s), stockNow(t, s)
				auditBefore := count(t, s, &store.AuditEntry{}, "")
				var got store.OrderReturnRequest
				var replayed bool
				var err error
				if st.open != nil {
					got, replayed, err = s.RecordReturn(ctx, *st.open)
				} else {
					got, replayed, err = s.MoveReturn(ctx, *st.move)
				}
				if st.check != nil {
					st.check(t, err)
					if got.ReturnID != "" || replayed {
						t.Errorf("a refused step answered %+v, replayed %v", got, replayed)
					}
					deepEqual(t, "outbox", pending(t, s), eventsBefore)
					deepEqual(t, "stock", stockNow(t, s), stockBefore)
				} else {
					if err != nil {
						t.Fatal(err)
					}
					if replayed != st.replayed || got.State != st.state {
						t.Errorf("state %s, replayed = %v; want %s, %v", got.State, replayed, st.state, st.replayed)
					}
					refunds := map[int]int64{}
					for _, l := range got.Lines {
						refunds[l.LineNo] = l.Refund
					}
					deepEqual(t, "refunds", refunds, st.refunds)
					if last := got.History[len(got.History)-1]; last.ToState != got.State || last.CreatedAt.Location() != time.UTC {
						t.Errorf("history %+v ends elsewhere than %s", got.History, got.State)
					}
					evs := pending(t, s)
					if replayed {
						deepEqual(t, "outbox", evs, eventsBefore)
					} else if len(evs) != len(eventsBefore)+1 || evs[len(evs)-1].AggregateID != got.OrderID {
						t.Errorf("outbox after the step: %+v", evs)
					}
					all, err := s.Returns(ctx, "o-1")
					if err != nil {
						t.Fatal(err)
					}
					var stored store.OrderReturnRequest
					for _, r := range all {
						if r.ReturnID == got.ReturnID {
							stored = r
						}
					}
					deepEqual(t, "the return as stored", stored, got)
				}
				wantAudit := auditBefore
				if st.audited && !replayed {
					wantAudit++
				}
				if n := count(t, s, &store.AuditEntry{}, ""); n != wantAudit {
					t.Errorf("%d audit entries, want %d", n, wantAudit)
				}
				wantStock(t, s, "a", st.a)
				wantStock(t, s, "b", st.b)
				wantSound(t, s)
			})
		}
		all, err := s.Returns(ctx, "o-1")
		if err != nil {
			t.Fatal(err)
		}
		var states []string
		for _, r := range all {
			states = append(states, r.ReturnID+":"+r.State)
		}
		deepEqual(t, "the order's returns", states, []string{"r1:received", "r2:rejected", "r3:cancelled", "r4:received"})
		if h := all[0].History; len(h) != 3 || h[0].ToState != "requested" || h[1].FromState != "requested" || h[1].ToState != "approved" ||
			h[2].ToState != "received" || h[2].Actor != "ops" || h[0].Actor != "alice" {
			t.Errorf("history of r1: %+v", h)
		}
		if r := all[1]; r.Reason != "rejected because" || r.RequestedBy != "alice" {
			t.Errorf("r2: %+v", r)
		}
		audit, err := s.ListAudit(ctx, store.AuditQuery{TargetType: "return", TargetID: "o-1/r4"})
		if err != nil || len(audit) != 1 || !jsonHas(audit[0].Before, `"state":"approved"`) || !jsonHas(audit[0].After, `"state":"received"`) ||
			!jsonHas(audit[0].After, `"refund":1867`) {
			t.Errorf("audit of r4: %+v, %v", audit, err)
		}
		none, err := s.Returns(ctx, "o-2")
		if err != nil || len(none) != 0 {
			t.Errorf("returns of o-2 = %+v, %v; want none", none, err)
		}
	})
}

func jsonHas(b []byte, part string) bool { return strings.Contains(string(b), part) }

func ptr[T any](v T) *T { return &v }

// Return lines written before returns were requests (no head) read as
// received returns and count as received when a later return is refunded.
func TestReturnsWithoutHeadAreReceived(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		seed(t, s, "a", 10)
		seed(t, s, "b", 10)
		placeShipped(t, s, "o-1")
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := s.DB(ctx).Create(&store.OrderReturn{OrderID: "o-1", ReturnID: "old", LineNo: 1, SKU: "a", Quantity: 1, Refund: 933,
			Actor: "ops", CreatedAt: at}).Error; err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.RecordReturn(ctx, newReturn("o-1", "new", []ret{{1, 3}})); !errors.As(err, new(*store.ReturnExceedsError)) {
			t.Fatalf("3 more of a line of 3 after 1 came back: %v", err)
		}
		if _, _, err := s.RecordReturn(ctx, newReturn("o-1", "new", []ret{{1, 2}})); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.MoveReturn(ctx, move("o-1", "new", store.ReturnApproved, store.ReturnRequested)); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.MoveReturn(ctx, receive("o-1", "new"))
		if err != nil || got.Lines[0].Refund != 2800-933 {
			t.Fatalf("receive after an old return: %+v, %v", got, err)
		}
		all, err := s.Returns(ctx, "o-1")
		if err != nil || len(all) != 2 || all[0].ReturnID != "old" || all[0].State != store.ReturnReceived || all[0].RequestedBy != "ops" ||
			len(all[0].History) != 1 || all[0].History[0].ToState != store.ReturnReceived {
			t.Fatalf("returns: %+v, %v", all, err)
		}
		if _, replayed, err := s.MoveReturn(ctx, receive("o-1", "old")); err != nil || !replayed {
			t.Errorf("receiving an old return: replayed %v, %v", replayed, err)
		}
	})
}

// N requests of one unit each, with distinct ids, race for a line of K
// units: exactly K open, the others are refused with *ReturnExceedsError.
// Then N receipts of one approved return race: one refunds and restocks,
// the others answer it replayed.
func TestConcurrentReturnsNeverExceedTheLineNorRefundTwice(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		s := storetest.Open(t, dialect, store.WithMaxOpenConns(16))
		ctx := t.Context()
		seed(t, s, "a", units)
		n := newOrder("o-1", reserve("a", units))
		n.Order.Lines[0].LineTotal = 1500 * units
		mustCreate(t, s, n)
		mustTransition(t, s, store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "shipped",
			Steps: moveSteps("o-1", stock.KindConfirm, stock.KindShip)})
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				_, _, err := s.RecordReturn(ctx, newReturn("o-1", fmt.Sprint("r-", i), []ret{{1, 1}}))
				var e *store.ReturnExceedsError
				switch {
				case err == nil:
					ok.Add(1)
				case errors.As(err, &e):
					if *e != (store.ReturnExceedsError{OrderID: "o-1", LineNo: 1, SKU: "a", Requested: 1, Left: 0}) {
						t.Errorf("return %d: %+v", i, *e)
					}
					refused.Add(1)
				default:
					t.Errorf("return %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != units || refused.Load() != racers-units {
			t.Errorf("%d returns, %d refused; want %d and %d", ok.Load(), refused.Load(), units, racers-units)
		}
		all, err := s.Returns(ctx, "o-1")
		if err != nil || len(all) != units {
			t.Fatalf("%d returns, %v", len(all), err)
		}
		id := all[0].ReturnID
		if _, _, err := s.MoveReturn(ctx, move("o-1", id, store.ReturnApproved, store.ReturnRequested)); err != nil {
			t.Fatal(err)
		}
		eventsBefore := len(pending(t, s))
		var first atomic.Int64
		for range 8 {
			wg.Go(func() {
				r, replayed, err := s.MoveReturn(ctx, receive("o-1", id))
				if err != nil || r.State != store.ReturnReceived || r.Lines[0].Refund != 1500 {
					t.Errorf("receive: %+v, %v", r, err)
				}
				if !replayed {
					first.Add(1)
				}
			})
		}
		wg.Wait()
		if first.Load() != 1 {
			t.Errorf("%d receipts were not replays; want 1", first.Load())
		}
		if evs := pending(t, s); len(evs) != eventsBefore+1 {
			t.Errorf("%d outbox events after the receipts, want %d", len(evs), eventsBefore+1)
		}
		if n := count(t, s, &store.AuditEntry{}, "target_id = ?", "o-1/"+id); n != 1 {
			t.Errorf("%d audit entries of the receipt, want 1", n)
		}
		wantStock(t, s, "a", buckets{1, 0, 0, units - 1})
		wantSound(t, s)
	})
}
