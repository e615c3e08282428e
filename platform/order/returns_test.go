package order_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// approveAndReceive approves a requested return and receives it.
func approveAndReceive(t *testing.T, svc *order.Service, orderID, returnID string) order.ReturnView {
	t.Helper()
	if _, err := svc.ReturnStep(t.Context(), orderID, order.ReturnStepRequest{ReturnID: returnID, Step: order.ReturnApprove, Actor: "ops"}); err != nil {
		t.Fatal(err)
	}
	v, err := svc.ReturnStep(t.Context(), orderID, order.ReturnStepRequest{ReturnID: returnID, Step: order.ReturnReceive, Actor: "ops"})
	if err != nil || v.State != store.ReturnReceived || v.Replayed {
		t.Fatalf("receive %s: %+v, %v", returnID, v, err)
	}
	return v
}

// shippedPhones places n phones (west) for alice under bizCode, pays by
// card and ships them: the order is pending inbound.
func shippedPhones(t *testing.T, svc *order.Service, bizCode string, n int64) order.View {
	t.Helper()
	ctx := t.Context()
	v, err := svc.Place(ctx, order.Buyer{ID: "alice"}, order.PlaceRequest{BizCode: bizCode, ShippingAddress: &extAddrWest,
		Items: []order.Item{{SKU: "phone", Quantity: n}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Pay(ctx, v.ID, order.PayRequest{Key: "k", Card: &payment.Card{Number: payment.CardApproved}}); err != nil {
		t.Fatal(err)
	}
	if v, err = svc.Fire(ctx, v.ID, order.Event{Name: "ship", Actor: "ops"}); err != nil || v.Status != "pending_inbound" {
		t.Fatalf("ship: %+v, %v", v, err)
	}
	return v
}

func topics(t *testing.T, st *store.Store) map[string]int {
	t.Helper()
	evs, err := st.PendingEvents(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range evs {
		out[e.Topic]++
	}
	return out
}

// A return is a request: opening it (even while the goods are in
// transit) and approving it refund nothing and move no stock; the buyer's
// receipt of the order is not blocked by it; the operator's receipt of the
// return refunds and restocks, once. Every step writes its event; a step
// its state does not allow is return_state and writes nothing.
func TestReturnIsARequestUntilReceived(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		svc := serviceFixture(t, st)
		ctx := t.Context()
		v := shippedPhones(t, svc, "retail", 3)
		step := func(rid, name, reason string) (order.ReturnView, error) {
			return svc.ReturnStep(ctx, v.ID, order.ReturnStepRequest{ReturnID: rid, Step: name, Actor: "ops", Reason: reason})
		}
		shipped := level(t, st, "phone", "west")

		r1, err := svc.Return(ctx, v.ID, order.ReturnRequest{ReturnID: "r1", Actor: "alice", Items: []order.ReturnItem{{SKU: "phone", Quantity: 2}}})
		if err != nil || r1.State != store.ReturnRequested || r1.Refund != 0 || r1.RequestedBy != "alice" || len(r1.History) != 1 {
			t.Fatalf("open in transit: %+v, %v", r1, err)
		}
		// The buyer's receipt of the order is not blocked by the open return.
		if got, err := svc.Fire(ctx, v.ID, order.Event{Name: "receive", Actor: "alice"}); err != nil || got.Status != "completed" {
			t.Fatalf("receive the order with a return open: %+v, %v", got, err)
		}
		if _, err := step("r1", order.ReturnReceive, ""); code(err) != order.CodeReturnState {
			t.Fatalf("receiving a requested return: %v", err)
		}
		if r, err := step("r1", order.ReturnApprove, ""); err != nil || r.State != store.ReturnApproved || r.Refund != 0 || r.Replayed {
			t.Fatalf("approve: %+v, %v", r, err)
		}
		if r, err := step("r1", order.ReturnApprove, ""); err != nil || !r.Replayed || r.State != store.ReturnApproved {
			t.Fatalf("approve again: %+v, %v", r, err)
		}
		if _, err := step("r1", order.ReturnReject, "too late"); code(err) != order.CodeReturnState {
			t.Fatalf("rejecting an approved return: %v", err)
		}
		// Nothing refunded, nothing restocked before the goods are back.
		if l := level(t, st, "phone", "west"); l.Shipped != shipped.Shipped || l.Sellable != shipped.Sellable {
			t.Fatalf("stock moved before receipt: %+v, was %+v", l, shipped)
		}
		if got := topics(t, st); got[order.TopicRefundDue] != 0 || got[order.TopicReturned] != 0 ||
			got[order.TopicReturnRequested] != 1 || got[order.TopicReturnApproved] != 1 {
			t.Fatalf("events before receipt: %v", got)
		}
		// Open returns count: one phone is left.
		if _, err := svc.Return(ctx, v.ID, order.ReturnRequest{ReturnID: "r2", Items: []order.ReturnItem{{SKU: "phone", Quantity: 2}}}); code(err) != order.CodeReturnInvalid {
			t.Fatalf("two requests over the line: %v", err)
		}

		r1, err = step("r1", order.ReturnReceive, "")
		if err != nil || r1.State != store.ReturnReceived || r1.Refund != 200000 || len(r1.History) != 3 {
			t.Fatalf("receive: %+v, %v", r1, err)
		}
		if again, err := step("r1", order.ReturnReceive, ""); err != nil || !again.Replayed || again.Refund != 200000 {
			t.Fatalf("receive again: %+v, %v", again, err)
		}
		if l := level(t, st, "phone", "west"); l.Shipped != shipped.Shipped-2 || l.Sellable != shipped.Sellable+2 {
			t.Fatalf("stock after receipt: %+v, was %+v", l, shipped)
		}
		if n := outboxRefunds(t, st, svc); n != 1 {
			t.Fatalf("%d refunds due after receipt, want 1", n)
		}
		if bal, _ := payment.OrderBalance(ctx, st.DB(ctx), v.ID); bal.Refunded != 200000 {
			t.Fatalf("refunded %d, want 200000", bal.Refunded)
		}
		if _, err := step("r1", order.ReturnCancel, ""); code(err) != order.CodeReturnState {
			t.Fatalf("cancelling a received return: %v", err)
		}

		// Rejected and cancelled returns free their units.
		if _, err := svc.Return(ctx, v.ID, order.ReturnRequest{ReturnID: "r3", Items: []order.ReturnItem{{SKU: "phone", Quantity: 1}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := step("r3", order.ReturnReject, ""); code(err) != order.CodeReturnInvalid {
			t.Fatalf("a rejection without a reason: %v", err)
		}
		if r, err := step("r3", order.ReturnReject, "worn"); err != nil || r.State != store.ReturnRejected || r.Reason != "worn" {
			t.Fatalf("reject: %+v, %v", r, err)
		}
		if _, err := step("r3", order.ReturnApprove, ""); code(err) != order.CodeReturnState {
			t.Fatalf("approving a rejected return: %v", err)
		}
		if _, err := svc.Return(ctx, v.ID, order.ReturnRequest{ReturnID: "r4", Items: []order.ReturnItem{{SKU: "phone", Quantity: 1}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := step("r4", order.ReturnApprove, ""); err != nil {
			t.Fatal(err)
		}
		if r, err := step("r4", order.ReturnCancel, ""); err != nil || r.State != store.ReturnCancelled {
			t.Fatalf("cancel an approved return: %+v, %v", r, err)
		}
		if _, err := step("r404", order.ReturnApprove, ""); code(err) != order.CodeReturnNotFound {
			t.Fatalf("an unknown return: %v", err)
		}
		if _, err := step("r4", "refund", ""); code(err) != order.CodeReturnInvalid {
			t.Fatalf("an unknown step: %v", err)
		}
		rets, err := svc.Returns(ctx, v.ID)
		if err != nil || len(rets) != 3 {
			t.Fatalf("returns: %+v, %v", rets, err)
		}
		var states []string
		for _, r := range rets {
			states = append(states, r.ReturnID+":"+r.State)
		}
		if fmt.Sprint(states) != "[r1:received r3:rejected r4:cancelled]" {
			t.Errorf("returns: %v", states)
		}
		want := map[string]int{order.TopicReturnRequested: 3, order.TopicReturnApproved: 2, order.TopicReturned: 1,
			order.TopicReturnRejected: 1, order.TopicReturnCancelled: 1}
		got := topics(t, st)
		for topic, n := range want {
			if got[topic] != n {
				t.Errorf("%d %s events, want %d", got[topic], topic, n)
			}
		}
		audit(t, st)
	})
}

// The return window counts from delivery: an order in transit is always
// open; once delivered, retail.quick.kid inherits retail.quick's 48 hours;
// after them a new return is refused (return_window_closed) while the same
// return id still replays.
func TestReturnWindow(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, "sqlite")
	svc := serviceFixture(t, st)
	ctx := t.Context()
	at := func(d time.Duration) { svc.SetClock(func() time.Time { return time.Now().Add(d) }) }
	v := shippedPhones(t, svc, "retail.quick.kid", 3)
	at(30 * 24 * time.Hour) // in transit for a month
	if _, err := svc.Return(ctx, v.ID, order.ReturnRequest{ReturnID: "transit", Items: []order.ReturnItem{{SKU: "phone", Quantity: 1}}}); err != nil {
		t.Fatalf("a return in transit: %v", err)
	}
	at(0)
	if _, err := svc.Fire(ctx, v.ID, order.Event{Name: "receive", Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	at(47 * time.Hour)
	if _, err := svc.Return(ctx, v.ID, order.ReturnRequest{ReturnID: "in", Items: []order.ReturnItem{{SKU: "phone", Quantity: 1}}}); err != nil {
		t.Fatalf("a return after 47 hours: %v", err)
	}
	at(49 * time.Hour)
	_, err := svc.Return(ctx, v.ID, order.ReturnRequest{ReturnID: "late", Items: []order.ReturnItem{{SKU: "phone", Quantity: 1}}})
	if code(err) != order.CodeReturnWindowClosed {
		t.Fatalf("a return after 49 hours: %v", err)
	}
	if oe := err.(*order.Error); oe.Fields["returnWindow"] != "48h0m0s" {
		t.Errorf("fields %v", oe.Fields)
	}
	if r, err := svc.Return(ctx, v.ID, order.ReturnRequest{ReturnID: "in", Items: []order.ReturnItem{{SKU: "phone", Quantity: 1}}}); err != nil || !r.Replayed {
		t.Fatalf("replaying a return after the window: %+v, %v", r, err)
	}
	// The default (168h) where nothing sets one.
	w := shippedPhones(t, svc, "retail", 1)
	at(0)
	if _, err := svc.Fire(ctx, w.ID, order.Event{Name: "receive", Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	at(167 * time.Hour)
	if _, err := svc.Return(ctx, w.ID, order.ReturnRequest{ReturnID: "in", Items: []order.ReturnItem{{SKU: "phone", Quantity: 1}}}); err != nil {
		t.Fatalf("a retail return after 167 hours: %v", err)
	}
}

// Racing requests never open more than was bought, and racing receipts of
// one return refund it once.
func TestConcurrentReturnRequestsAndReceipts(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		svc := serviceFixture(t, st)
		ctx := t.Context()
		v := shippedPhones(t, svc, "retail", 3)
		const racers = 8
		var opened atomic.Int64
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				_, err := svc.Return(ctx, v.ID, order.ReturnRequest{ReturnID: fmt.Sprint("r", i), Items: []order.ReturnItem{{SKU: "phone", Quantity: 2}}})
				switch {
				case err == nil:
					opened.Add(1)
				case code(err) != order.CodeReturnInvalid:
					t.Errorf("racer %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if opened.Load() != 1 {
			t.Fatalf("%d requests of 2 of 3 phones opened, want 1", opened.Load())
		}
		rets, err := svc.Returns(ctx, v.ID)
		if err != nil || len(rets) != 1 {
			t.Fatalf("returns %+v, %v", rets, err)
		}
		rid := rets[0].ReturnID
		if _, err := svc.ReturnStep(ctx, v.ID, order.ReturnStepRequest{ReturnID: rid, Step: order.ReturnApprove, Actor: "ops"}); err != nil {
			t.Fatal(err)
		}
		var first atomic.Int64
		for range racers {
			wg.Go(func() {
				r, err := svc.ReturnStep(ctx, v.ID, order.ReturnStepRequest{ReturnID: rid, Step: order.ReturnReceive, Actor: "ops"})
				if err != nil || r.Refund != 200000 {
					t.Errorf("receive: %+v, %v", r, err)
				}
				if !r.Replayed {
					first.Add(1)
				}
			})
		}
		wg.Wait()
		if first.Load() != 1 {
			t.Errorf("%d receipts were first, want 1", first.Load())
		}
		if n := outboxRefunds(t, st, svc); n != 1 {
			t.Errorf("%d refunds due, want 1", n)
		}
		audit(t, st)
	})
}
