package order_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// recoveryFixture is a service whose payments and clock the test drives.
func recoveryFixture(t *testing.T, st *store.Store, callTimeout time.Duration) (*order.Service, *testClock) {
	t.Helper()
	k, book := kernelFixture(t, st)
	clk := &testClock{now: time.Now().UTC()}
	pays := payment.NewPayments(payment.NewSandbox(st.DB(context.Background())), clk.Now)
	pays.CallTimeout = callTimeout
	svc := order.NewService(k, st, order.WithPromotions(book), order.WithPayments(pays))
	svc.SetClock(clk.Now)
	return svc, clk
}

func moneyClean(t *testing.T, st *store.Store, clk *testClock, ids ...string) {
	t.Helper()
	a, err := order.AuditMoneyOf(t.Context(), st.DB(t.Context()), clk.Now(), ids...)
	if err != nil || len(a.Problems) != 0 {
		t.Fatalf("money audit: %+v, %v", a.Problems, err)
	}
}

func drainRecovery(t *testing.T, svc *order.Service) {
	t.Helper()
	for range 10 {
		st, err := svc.RecoverPayments(t.Context(), 100)
		if err != nil {
			t.Fatal(err)
		}
		if st.Taken == 0 {
			return
		}
	}
	t.Fatal("recovery never ran dry")
}

// The payment timeout settles an order's payment attempt before it
// cancels: a capture whose answer was lost pays the order; an attempt a
// live call still holds makes it wait; one the processor never captured
// is voided, and then the order times out.
func TestPaymentTimeoutSettlesAttemptsFirst(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		// The hanging capture holds its attempt for the call timeout: long
		// enough that a starved machine (-race, load 10) still asks while
		// it holds it.
		svc, clk := recoveryFixture(t, st, 6*time.Second)
		ctx := t.Context()
		place := func() order.View {
			v, err := svc.Place(ctx, order.Buyer{ID: "alice"}, order.PlaceRequest{BizCode: "retail", ShippingAddress: east,
				Items: []order.Item{{SKU: "case", Quantity: 1}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		lost, hung := place(), place()
		if _, err := svc.Pay(ctx, lost.ID, order.PayRequest{Key: "k", Card: &payment.Card{Number: payment.CardAnswerLost}}); code(err) != order.CodePaymentProcessor {
			t.Fatalf("a lost answer: %v", err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			_, _ = svc.Pay(ctx, hung.ID, order.PayRequest{Key: "k", Card: &payment.Card{Number: payment.CardCaptureHangs}})
		})
		// Wait until the hanging call holds its attempt.
		for {
			if pays, _ := svc.Payments(ctx, hung.ID); len(pays) == 1 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		clk.Advance(kernel.DefaultPaymentTimeout + time.Minute)

		if v, err := svc.TimeOut(ctx, lost.ID, "system:payment-timeout"); code(err) != order.CodeEventNotAllowed {
			t.Fatalf("timeout of the order whose capture was lost: %+v, %v; want it paid, not cancelled", v, err)
		}
		if v, _ := svc.Get(ctx, lost.ID); v.Status != lifecycle.PendingOutbound {
			t.Fatalf("the captured order is %s", v.Status)
		}
		if _, err := svc.TimeOut(ctx, hung.ID, "system:payment-timeout"); code(err) != order.CodePaymentInProgress {
			t.Fatalf("timeout while a call holds the attempt: %v", err)
		}
		wg.Wait() // the hanging capture reached its deadline: the attempt is released
		if _, err := svc.TimeOut(ctx, hung.ID, "system:payment-timeout"); code(err) != order.CodePaymentInProgress {
			t.Fatalf("timeout while the buyer may still retry the attempt's key: %v", err)
		}
		clk.Advance(payment.DefaultRetryAfter + time.Second)
		v, err := svc.TimeOut(ctx, hung.ID, "system:payment-timeout")
		if err != nil || v.Status != lifecycle.Cancelled {
			t.Fatalf("timeout after the call gave up: %+v, %v", v, err)
		}
		pays, _ := svc.Payments(ctx, hung.ID)
		if len(pays) != 1 || pays[0].State != payment.StateFailed || pays[0].FailureCode != payment.FailureAbandoned {
			t.Fatalf("the hung attempt: %+v", pays)
		}
		var failed int64
		if err := st.DB(ctx).Model(&store.OutboxEvent{}).Where("aggregate_id = ? AND topic = ?", hung.ID, order.TopicChargeFailed).
			Count(&failed).Error; err != nil || failed != 1 {
			t.Fatalf("%d %s events, %v", failed, order.TopicChargeFailed, err)
		}
		moneyClean(t, st, clk, lost.ID, hung.ID)
		audit(t, st)
	})
}

// A charge that lands after its order was cancelled is recorded and
// refunded in full, automatically; the same key then says so.
func TestLateCaptureOnCancelledOrderIsRefunded(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		svc, clk := recoveryFixture(t, st, time.Second)
		ctx := t.Context()
		v, err := svc.Place(ctx, order.Buyer{ID: "alice"}, order.PlaceRequest{BizCode: "retail", ShippingAddress: east,
			Items: []order.Item{{SKU: "case", Quantity: 2}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		card := &payment.Card{Number: payment.CardAnswerLost}
		if _, err := svc.Pay(ctx, v.ID, order.PayRequest{Key: "k", Card: card}); code(err) != order.CodePaymentProcessor {
			t.Fatalf("a lost answer: %v", err)
		}
		if c, err := svc.Fire(ctx, v.ID, order.Event{Name: lifecycle.EventCancel, Actor: "alice"}); err != nil || c.Status != lifecycle.Cancelled {
			t.Fatalf("cancel: %+v, %v", c, err)
		}
		clk.Advance(payment.DefaultRetryAfter + time.Second)
		drainRecovery(t, svc)
		pays, _ := svc.Payments(ctx, v.ID)
		if len(pays) != 2 || pays[0].State != payment.StateSucceeded || pays[1].Kind != payment.KindRefund ||
			pays[1].State != payment.StateSucceeded || pays[1].Amount != v.Amounts.Total || pays[1].ChargeID != pays[0].ID {
			t.Fatalf("payments %+v; want the late charge and its full refund", pays)
		}
		if _, err := svc.Pay(ctx, v.ID, order.PayRequest{Key: "k", Card: card}); code(err) != order.CodeEventNotAllowed {
			t.Fatalf("the same key after the refund: %v", err)
		}
		moneyClean(t, st, clk, v.ID)
		// Every step left its event: the refund owed, then paid.
		var topics []string
		if err := st.DB(ctx).Model(&store.OutboxEvent{}).Where("aggregate_id = ? AND topic LIKE ?", v.ID, "payment.%").
			Order("created_at").Pluck("topic", &topics).Error; err != nil {
			t.Fatal(err)
		}
		slices.Sort(topics) // one clock reading: their order is the database's
		if !slices.Equal(topics, []string{order.TopicRefundDue, order.TopicRefunded}) {
			t.Fatalf("payment events %v", topics)
		}
		if l := level(t, st, "case", "east"); l.Reserved != 0 || l.Frozen != 0 {
			t.Fatalf("stock %+v", l)
		}
	})
}
