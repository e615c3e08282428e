package order_test

import (
	"errors"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// promotions stores ps in the book (and the database) and refreshes it.
func promotions(t *testing.T, st *store.Store, book *promotion.Book, ps ...promotion.Promotion) {
	t.Helper()
	inTx(t, st, func(tx *gorm.DB) error {
		for _, p := range ps {
			if _, err := book.PutPromotion(t.Context(), tx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if _, err := book.Refresh(t.Context(), st.DB(t.Context())); err != nil {
		t.Fatal(err)
	}
}

func code(err error) string {
	var oe *order.Error
	if errors.As(err, &oe) {
		return oe.Code
	}
	return ""
}

// Two orders race for one coupon: exactly one gets it; the other is refused
// with coupon_unavailable and writes nothing. Cancelling the winner before
// payment gives the coupon back.
func TestCouponRaceAndReturnOnCancel(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		svc, book := serviceFixtureWith(t, st)
		ctx := t.Context()
		promotions(t, st, book, promotion.Promotion{ID: "case-coupon", Name: "2.00 off a case", Kind: promotion.AmountOff, Group: "coupon",
			CouponRequired: true, Params: promotion.Params{Amount: 200}, Currency: "CNY", Enabled: true,
			Conditions: promotion.Conditions{Categories: []string{"accessory"}}})
		inTx(t, st, func(tx *gorm.DB) error { return promotion.IssueCoupons(ctx, tx, "case-coupon", "", []string{"CASE-1"}) })

		const racers = 8
		var wg sync.WaitGroup
		results := make([]error, racers)
		views := make([]order.View, racers)
		for i := range racers {
			wg.Go(func() {
				views[i], results[i] = svc.Place(ctx, order.Buyer{ID: "alice"}, order.PlaceRequest{BizCode: "retail", ShippingAddress: east,
					Coupons: []string{"CASE-1"}, Items: []order.Item{{SKU: "case", Quantity: 1}}}, nil)
			})
		}
		wg.Wait()
		var winner order.View
		wins := 0
		for i, err := range results {
			switch {
			case err == nil:
				wins++
				winner = views[i]
			case code(err) != order.CodeCouponUnavailable:
				t.Errorf("racer %d: %v, want coupon_unavailable", i, err)
			}
		}
		if wins != 1 || winner.Amounts.Discount != 200 || winner.Items[0].LineTotal != 999 {
			t.Fatalf("%d winners; winner %+v", wins, winner.Amounts)
		}
		page, _ := svc.List(ctx, order.Query{Limit: 100})
		if len(page.Orders) != 1 {
			t.Fatalf("%d orders written, want 1", len(page.Orders))
		}
		if l := level(t, st, "case", "east"); l.Reserved != 1 || l.Sellable != 49 {
			t.Fatalf("case stock: %+v", l)
		}
		if _, err := svc.Fire(ctx, winner.ID, order.Event{Name: "cancel", Actor: "alice"}); err != nil {
			t.Fatal(err)
		}
		again, err := svc.Place(ctx, order.Buyer{ID: "bob"}, order.PlaceRequest{BizCode: "retail", ShippingAddress: east,
			Coupons: []string{"CASE-1"}, Items: []order.Item{{SKU: "case", Quantity: 1}}}, nil)
		if err != nil || again.Amounts.Discount != 200 {
			t.Fatalf("coupon after cancel: %+v, %v", again.Amounts, err)
		}
		audit(t, st)
	})
}

// A budget of 3 discounts of 100 serves exactly three orders; the fourth is
// priced without the promotion, since its budget is spent.
func TestBudgetIsNeverExceeded(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		svc, book := serviceFixtureWith(t, st)
		ctx := t.Context()
		promotions(t, st, book, promotion.Promotion{ID: "case-deal", Name: "1.00 off", Kind: promotion.AmountOff, Group: "item",
			Params: promotion.Params{Amount: 100}, Budget: 300, Currency: "CNY", Enabled: true,
			Conditions: promotion.Conditions{SKUs: []string{"case"}}})
		var wg sync.WaitGroup
		discounts := make([]int64, 10)
		for i := range discounts {
			wg.Go(func() {
				v, err := svc.Place(ctx, order.Buyer{ID: "alice"}, order.PlaceRequest{BizCode: "retail", ShippingAddress: east,
					Items: []order.Item{{SKU: "case", Quantity: 1}}}, nil)
				if err != nil {
					t.Errorf("order %d: %v", i, err)
					return
				}
				discounts[i] = v.Amounts.Discount
			})
		}
		wg.Wait()
		var total int64
		for _, d := range discounts {
			total += d
		}
		b, err := promotion.GetBudget(ctx, st.DB(ctx), "case-deal")
		if err != nil || total != 300 || b.Remaining != 0 {
			t.Fatalf("discounts %v (sum %d), budget %+v, %v; want 300 given, 0 left", discounts, total, b, err)
		}
	})
}

// A declined card leaves the order pending payment with its stock
// reserved, the same key answers the same decline, another card under
// another key pays it; paying again with the same key charges nothing more.
func TestDeclinedCardAndIdempotentPayment(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		svc := serviceFixture(t, st)
		ctx := t.Context()
		place := func() order.View {
			v, err := svc.Place(ctx, order.Buyer{ID: "alice"}, order.PlaceRequest{BizCode: "retail", ShippingAddress: east,
				Items: []order.Item{{SKU: "case", Quantity: 2}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		v := place()
		for range 2 { // the same key replays the decline
			_, err := svc.Pay(ctx, v.ID, order.PayRequest{Key: "k", Card: &payment.Card{Number: payment.CardDeclined}, Actor: "alice"})
			if code(err) != order.CodePaymentDeclined {
				t.Fatalf("declined: %v", err)
			}
		}
		if got, _ := svc.Get(ctx, v.ID); got.Status != lifecycle.PendingPayment {
			t.Fatalf("status after decline: %s", got.Status)
		}
		if l := level(t, st, "case", "east"); l.Sellable != 48 || l.Reserved != 2 {
			t.Fatalf("stock after decline: %+v", l)
		}
		r, err := svc.Pay(ctx, v.ID, order.PayRequest{Key: "k2", Card: &payment.Card{Number: payment.CardApproved}, Actor: "alice"})
		if err != nil || r.Order.Status != lifecycle.PendingOutbound {
			t.Fatalf("another card after a decline: %+v, %v", r, err)
		}
		if pays, _ := svc.Payments(ctx, v.ID); len(pays) != 2 || pays[0].State != payment.StateFailed || pays[1].State != payment.StateSucceeded {
			t.Fatalf("payment attempts %+v, want the decline then the charge", pays)
		}
		if _, err := svc.Pay(ctx, v.ID, order.PayRequest{Key: "k", Card: &payment.Card{Number: payment.CardDeclined}}); code(err) != order.CodePaymentDeclined {
			t.Fatalf("the declined key after the order was paid: %v", err)
		}

		v = place()
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				_, err := svc.Pay(ctx, v.ID, order.PayRequest{Key: "same", Card: &payment.Card{Number: payment.CardApproved}, Actor: "alice"})
				if err != nil && code(err) != order.CodePaymentInProgress {
					t.Errorf("pay: %v", err)
				}
			})
		}
		wg.Wait()
		r, err = svc.Pay(ctx, v.ID, order.PayRequest{Key: "same", Card: &payment.Card{Number: payment.CardApproved}, Actor: "alice"})
		if err != nil || r.Order.Status != lifecycle.PendingOutbound {
			t.Fatalf("replay: %+v, %v", r, err)
		}
		pays, _ := svc.Payments(ctx, v.ID)
		if len(pays) != 1 || pays[0].State != payment.StateSucceeded || pays[0].Amount != v.Amounts.Total {
			t.Fatalf("payments %+v, want one charge", pays)
		}
		if _, err := svc.Pay(ctx, v.ID, order.PayRequest{Key: "other", Card: &payment.Card{Number: payment.CardApproved}}); code(err) != order.CodeEventNotAllowed {
			t.Fatalf("second payment with another key: %v", err)
		}
	})
}

// outboxRefunds pays the refunds orders owe, as payment recovery does in
// the server (twice: a second pass must pay nothing more), and returns how
// many refund events the outbox holds.
func outboxRefunds(t *testing.T, st *store.Store, svc *order.Service) int {
	t.Helper()
	for range 2 {
		if _, err := svc.RecoverPayments(t.Context(), 1000); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := st.PendingEvents(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Topic != order.TopicRefundDue {
			continue
		}
		if err := st.MarkDelivered(t.Context(), e.ID); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// A paid order cancelled before shipping is refunded in full, once; a
// shipped order returned in two steps refunds exactly what its lines cost
// after the discount.
func TestRefundsOnCancelAndReturns(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		svc, book := serviceFixtureWith(t, st)
		ctx := t.Context()
		card := &payment.Card{Number: payment.CardApproved}
		v, err := svc.Place(ctx, order.Buyer{ID: "alice"}, order.PlaceRequest{BizCode: "retail", ShippingAddress: east,
			Items: []order.Item{{SKU: "case", Quantity: 1}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Pay(ctx, v.ID, order.PayRequest{Key: "k", Card: card}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Fire(ctx, v.ID, order.Event{Name: "cancel", Actor: "alice"}); err != nil {
			t.Fatal(err)
		}
		if n := outboxRefunds(t, st, svc); n != 1 {
			t.Fatalf("%d refunds due, want 1", n)
		}
		bal, _ := payment.OrderBalance(ctx, st.DB(ctx), v.ID)
		if bal.Captured != v.Amounts.Total || bal.Refunded != v.Amounts.Total {
			t.Fatalf("balance after cancel: %+v", bal)
		}

		// 10% off phones, then 3 phones shipped and returned 1 + 2.
		promotions(t, st, book, promotion.Promotion{ID: "phones", Name: "10% off phones", Kind: promotion.PercentOff, Group: "item",
			Params: promotion.Params{BasisPoints: 1000}, Currency: "CNY", Enabled: true, Conditions: promotion.Conditions{Categories: []string{"phone"}}})
		v, err = svc.Place(ctx, order.Buyer{ID: "alice"}, order.PlaceRequest{BizCode: "retail", ShippingAddress: &extAddrWest,
			Items: []order.Item{{SKU: "phone", Quantity: 3}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var lineDiscounts int64
		for _, l := range v.Items {
			lineDiscounts += l.Discount
		}
		if v.Amounts.Discount != 30000 || lineDiscounts != v.Amounts.Discount ||
			v.Amounts.Total != v.Amounts.Subtotal-v.Amounts.Discount+v.Amounts.Freight {
			t.Fatalf("amounts %+v, line discounts %d", v.Amounts, lineDiscounts)
		}
		if _, err := svc.Pay(ctx, v.ID, order.PayRequest{Key: "k", Card: card}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Return(ctx, v.ID, order.ReturnRequest{ReturnID: "early", Items: []order.ReturnItem{{SKU: "phone", Quantity: 1}}}); code(err) != order.CodeReturnInvalid {
			t.Fatalf("return before shipping: %v", err)
		}
		if _, err := svc.Fire(ctx, v.ID, order.Event{Name: "ship", Actor: "ops"}); err != nil {
			t.Fatal(err)
		}
		r1, err := svc.Return(ctx, v.ID, order.ReturnRequest{ReturnID: "r1", Items: []order.ReturnItem{{SKU: "phone", Quantity: 1}}})
		if err != nil || r1.Refund != 0 || r1.State != "requested" {
			t.Fatalf("first return opened: %+v, %v", r1, err)
		}
		if n := outboxRefunds(t, st, svc); n != 0 {
			t.Fatalf("%d refunds due before the goods came back", n)
		}
		if r1 = approveAndReceive(t, svc, v.ID, "r1"); r1.Refund != 90000 {
			t.Fatalf("first return received: %+v", r1)
		}
		if again, err := svc.Return(ctx, v.ID, order.ReturnRequest{ReturnID: "r1", Items: []order.ReturnItem{{SKU: "phone", Quantity: 1}}}); err != nil || !again.Replayed || again.Refund != 90000 {
			t.Fatalf("replayed return: %+v, %v", again, err)
		}
		if _, err := svc.Return(ctx, v.ID, order.ReturnRequest{ReturnID: "r2", Items: []order.ReturnItem{{SKU: "phone", Quantity: 3}}}); code(err) != order.CodeReturnInvalid {
			t.Fatalf("returning more than left: %v", err)
		}
		if _, err := svc.Return(ctx, v.ID, order.ReturnRequest{ReturnID: "r3", Items: []order.ReturnItem{{SKU: "phone", Quantity: 2}}}); err != nil {
			t.Fatal(err)
		}
		if r2 := approveAndReceive(t, svc, v.ID, "r3"); r2.Refund != 180000 {
			t.Fatalf("second return: %+v", r2)
		}
		if n := outboxRefunds(t, st, svc); n != 2 {
			t.Fatalf("%d refunds due, want 2", n)
		}
		bal, _ = payment.OrderBalance(ctx, st.DB(ctx), v.ID)
		if bal.Refunded != 270000 {
			t.Fatalf("refunded %d, want 270000", bal.Refunded)
		}
		if l := level(t, st, "phone", "west"); l.Shipped != 0 || l.Sellable != 5 {
			t.Fatalf("phones after returns: %+v", l)
		}
		audit(t, st)
	})
}

var extAddrWest = extensionsAddress("west")
