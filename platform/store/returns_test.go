package store_test

import (
	"context"
	"errors"
	"fmt"
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

// newReturn builds a return whose steps give the stock back (the stock
// domain's Return) and check, through tx, that the return's rows are
// already written; extra steps run after them. Its event carries the
// refund. then records what Then was given.
func newReturn(orderID, returnID string, lines []ret, then *[]store.OrderReturn, extra ...store.Step) store.NewReturn {
	r := store.NewReturn{OrderID: orderID, ReturnID: returnID, Actor: "ops", RefundOf: refundOf}
	for _, l := range lines {
		r.Lines = append(r.Lines, store.OrderReturn{LineNo: l.line, Quantity: l.qty})
	}
	r.Then = func(rows []store.OrderReturn) ([]store.Step, []store.OutboxEvent) {
		if then != nil {
			*then = append([]store.OrderReturn(nil), rows...)
		}
		req := stock.ReturnRequest{OrderID: orderID, ReturnID: returnID}
		var refund int64
		for _, row := range rows {
			req.Lines = append(req.Lines, stock.LineQty{LineNo: row.LineNo, SKU: row.SKU, Quantity: row.Quantity})
			refund += row.Refund
		}
		steps := []store.Step{
			func(ctx context.Context, tx *gorm.DB) error { return stock.Return(ctx, tx, req) },
			func(ctx context.Context, tx *gorm.DB) error {
				var n int64
				if err := tx.Model(&store.OrderReturn{}).Where("order_id = ? AND return_id = ?", orderID, returnID).Count(&n).Error; err != nil {
					return err
				}
				if n != int64(len(rows)) {
					return fmt.Errorf("the return's step sees %d of its %d rows", n, len(rows))
				}
				return nil
			},
		}
		return append(steps, extra...), []store.OutboxEvent{{Topic: "order.returned", Payload: fmt.Sprintf(`{"refund":%d}`, refund)}}
	}
	return r
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

// A sequence of returns of one shipped order, each checked for its answer,
// what it wrote and the stock after it; a refused or failed return writes
// nothing.
func TestRecordReturn(t *testing.T) {
	t.Parallel()
	exceeds := func(want store.ReturnExceedsError) func(t *testing.T, err error) {
		return func(t *testing.T, err error) {
			var e *store.ReturnExceedsError
			if !errors.As(err, &e) || *e != want {
				t.Fatalf("error = %v, want %+v", err, want)
			}
		}
	}
	is := func(target error) func(t *testing.T, err error) {
		return func(t *testing.T, err error) { wantErrIs(t, err, target) }
	}
	row := func(id string, line int, sku string, qty, refund int64) store.OrderReturn {
		return store.OrderReturn{OrderID: "o-1", ReturnID: id, LineNo: line, SKU: sku, Quantity: qty, Refund: refund, Actor: "ops"}
	}
	steps := []struct {
		name     string
		orderID  string // "o-1" when empty
		returnID string
		lines    []ret
		fail     bool // a step fails after the stock came back
		// What RecordReturn answers, and the stock of a and b after it.
		check    func(t *testing.T, err error)
		rows     []store.OrderReturn
		replayed bool
		a, b     buckets
	}{
		{name: "one unit of the first line", returnID: "r1", lines: []ret{{1, 1}},
			rows: []store.OrderReturn{row("r1", 1, "a", 1, 933)}, a: buckets{7, 1, 0, 2}, b: buckets{8, 0, 0, 2}},
		{name: "the same return id again answers the first return", returnID: "r1", lines: []ret{{2, 2}},
			rows: []store.OrderReturn{row("r1", 1, "a", 1, 933)}, replayed: true, a: buckets{7, 1, 0, 2}, b: buckets{8, 0, 0, 2}},
		{name: "more than the line has left", returnID: "r2", lines: []ret{{1, 3}},
			check: exceeds(store.ReturnExceedsError{OrderID: "o-1", LineNo: 1, SKU: "a", Requested: 3, Left: 2}),
			a:     buckets{7, 1, 0, 2}, b: buckets{8, 0, 0, 2}},
		{name: "a valid line and one that exceeds", returnID: "r2", lines: []ret{{1, 1}, {2, 3}},
			check: exceeds(store.ReturnExceedsError{OrderID: "o-1", LineNo: 2, SKU: "b", Requested: 3, Left: 2}),
			a:     buckets{7, 1, 0, 2}, b: buckets{8, 0, 0, 2}},
		{name: "a step fails after the stock came back", returnID: "r3", lines: []ret{{1, 2}, {2, 1}}, fail: true,
			check: is(errBoom), a: buckets{7, 1, 0, 2}, b: buckets{8, 0, 0, 2}},
		{name: "the failed return's id goes in afterwards", returnID: "r3", lines: []ret{{1, 2}, {2, 1}},
			rows: []store.OrderReturn{row("r3", 1, "a", 2, 1867), row("r3", 2, "b", 1, 500)},
			a:    buckets{9, 1, 0, 0}, b: buckets{9, 0, 0, 1}},
		{name: "the last unit", returnID: "r4", lines: []ret{{2, 1}},
			rows: []store.OrderReturn{row("r4", 2, "b", 1, 500)}, a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
		{name: "nothing left", returnID: "r5", lines: []ret{{2, 1}},
			check: exceeds(store.ReturnExceedsError{OrderID: "o-1", LineNo: 2, SKU: "b", Requested: 1, Left: 0}),
			a:     buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
		{name: "a line the order does not have", returnID: "r6", lines: []ret{{9, 1}},
			check: is(store.ErrInvalid), a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
		{name: "a quantity of zero", returnID: "r6", lines: []ret{{1, 0}},
			check: is(store.ErrInvalid), a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
		{name: "no lines", returnID: "r6",
			check: is(store.ErrInvalid), a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
		{name: "no return id", lines: []ret{{1, 1}},
			check: is(store.ErrInvalid), a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
		{name: "an order that does not exist", orderID: "o-404", returnID: "r6", lines: []ret{{1, 1}},
			check: is(store.ErrNotFound), a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
		{name: "the stock domain refuses a return of an order not shipped", orderID: "o-2", returnID: "r7", lines: []ret{{1, 1}},
			check: func(t *testing.T, err error) {
				want := stock.ReturnError{OrderID: "o-2", ReturnID: "r7", LineNo: 1, SKU: "a", Requested: 1, Returnable: 0}
				var e *stock.ReturnError
				if !errors.As(err, &e) || *e != want {
					t.Fatalf("error = %v, want %+v", err, want)
				}
			},
			a: buckets{9, 1, 0, 0}, b: buckets{10, 0, 0, 0}},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		seed(t, s, "a", 10)
		seed(t, s, "b", 10)
		placeShipped(t, s, "o-1")
		mustCreate(t, s, newOrder("o-2", reserve("a", 1)))
		var all []store.OrderReturn // every row written so far
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				orderID := st.orderID
				if orderID == "" {
					orderID = "o-1"
				}
				var extra []store.Step
				if st.fail {
					extra = append(extra, failStep())
				}
				var given []store.OrderReturn
				eventsBefore, stockBefore := pending(t, s), stockNow(t, s)
				rows, replayed, err := s.RecordReturn(ctx, newReturn(orderID, st.returnID, st.lines, &given, extra...))
				if st.check != nil {
					st.check(t, err)
					if rows != nil || replayed {
						t.Errorf("a refused return answered %+v, replayed %v", rows, replayed)
					}
					deepEqual(t, "outbox", pending(t, s), eventsBefore)
					deepEqual(t, "stock", stockNow(t, s), stockBefore)
				} else {
					if err != nil {
						t.Fatal(err)
					}
					if replayed != st.replayed {
						t.Errorf("replayed = %v, want %v", replayed, st.replayed)
					}
					deepEqual(t, "rows", stripTimes(t, rows), st.rows)
					if replayed {
						deepEqual(t, "what Then was given on a replay", given, []store.OrderReturn(nil))
						deepEqual(t, "outbox", pending(t, s), eventsBefore)
					} else {
						deepEqual(t, "what Then was given", stripTimes(t, given), st.rows)
						var refund int64
						for _, r := range st.rows {
							refund += r.Refund
						}
						evs := pending(t, s)
						if len(evs) != len(eventsBefore)+1 || evs[len(evs)-1].AggregateID != orderID ||
							evs[len(evs)-1].Topic != "order.returned" || evs[len(evs)-1].Payload != fmt.Sprintf(`{"refund":%d}`, refund) {
							t.Errorf("outbox after the return: %+v", evs)
						}
						all = append(all, st.rows...)
					}
				}
				wantStock(t, s, "a", st.a)
				wantStock(t, s, "b", st.b)
				got, err := s.OrderReturns(ctx, "o-1")
				if err != nil {
					t.Fatal(err)
				}
				deepEqual(t, "the order's returns", stripTimes(t, got), all)
				wantSound(t, s)
			})
		}
		none, err := s.OrderReturns(ctx, "o-2")
		if err != nil || len(none) != 0 {
			t.Errorf("returns of o-2 = %+v, %v; want none", none, err)
		}
	})
}

// stripTimes checks that every row has a UTC time and clears it, to
// compare the rest.
func stripTimes(t *testing.T, rows []store.OrderReturn) []store.OrderReturn {
	t.Helper()
	if rows == nil {
		return nil
	}
	out := append([]store.OrderReturn{}, rows...)
	for i := range out {
		if out[i].CreatedAt.IsZero() || out[i].CreatedAt.Location() != time.UTC {
			t.Errorf("return row %+v: want a UTC time", out[i])
		}
		out[i].CreatedAt = time.Time{}
	}
	return out
}

// N returns of one unit each, with distinct ids, race for a line of K
// units: exactly K go in, the others are refused with *ReturnExceedsError,
// and the stock domain's shipment counter agrees.
func TestConcurrentReturnsNeverExceedTheLine(t *testing.T) {
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
				_, _, err := s.RecordReturn(ctx, newReturn("o-1", fmt.Sprint("r-", i), []ret{{1, 1}}, nil))
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
		rows, err := s.OrderReturns(ctx, "o-1")
		if err != nil {
			t.Fatal(err)
		}
		var qty, refund int64
		for _, r := range rows {
			qty += r.Quantity
			refund += r.Refund
		}
		if len(rows) != units || qty != units || refund != 1500*units {
			t.Errorf("%d return rows of %d units refunding %d; want %d, %d and %d", len(rows), qty, refund, units, units, 1500*units)
		}
		if evs := pending(t, s); len(evs) != 1+units {
			t.Errorf("%d outbox events, want %d (the placement and one per return)", len(evs), 1+units)
		}
		wantStock(t, s, "a", buckets{units, 0, 0, 0})
		wantSound(t, s)
	})
}
