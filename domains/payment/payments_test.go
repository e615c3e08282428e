package payment_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Concurrency tests: n racers on a counter of k.
const (
	racers   = 40
	capacity = 15
)

// race runs fn(i) for i in [0, n) at once and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func chargeReq(order, key string, amount int64, number string) payment.ChargeRequest {
	return payment.ChargeRequest{OrderID: order, Key: key, Amount: amount, Currency: "CNY", Card: card(number)}
}

func TestChargeOnce(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		db := s.DB(ctx)
		sb := payment.NewSandbox(s.DB(ctx))
		p := payment.NewPayments(sb, nil)

		first, err := p.Charge(ctx, db, chargeReq("o1", "o1/pay/k1", 1999, "4242 4242 4242 4242"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if first.State != payment.StateSucceeded || first.OrderID != "o1" || first.Amount != 1999 || first.Currency != "CNY" ||
			first.Method != payment.MethodCard || first.Kind != payment.KindCharge || first.IdemKey != "o1/pay/k1" ||
			first.CardBrand != "visa" || first.CardLast4 != "4242" || first.ProcessorRef == "" || first.Attempts != 1 ||
			first.FailureCode != "" {
			t.Fatalf("charge = %+v", first)
		}
		if b := balance(t, s, "o1"); b.Captured != 1999 || b.Refunded != 0 || b.ChargeID != first.ID || b.Method != payment.MethodCard {
			t.Errorf("balance = %+v", b)
		}

		// The same key again answers the same payment and calls nobody.
		again, err := p.Charge(ctx, db, chargeReq("o1", "o1/pay/k1", 1999, payment.CardApproved), nil)
		if err != nil || again.ID != first.ID || again.State != payment.StateSucceeded {
			t.Fatalf("replay = %+v, %v", again, err)
		}
		st := sb.Stats()
		if st.Calls[payment.OpAuthorize] != 1 || st.Calls[payment.OpCapture] != 1 || st.Captures != 1 || st.Captured != 1999 {
			t.Errorf("processor stats after a replay: %+v", st)
		}

		// Another key on a paid order.
		_, err = p.Charge(ctx, db, chargeReq("o1", "o1/pay/k2", 1999, payment.CardApproved), nil)
		if e := as[*payment.AlreadyPaidError](t, err); e.OrderID != "o1" || e.PaymentID != first.ID {
			t.Errorf("already paid = %+v", e)
		}
		// The key with other parameters.
		_, err = p.Charge(ctx, db, chargeReq("o1", "o1/pay/k1", 2000, payment.CardApproved), nil)
		if e := as[*payment.KeyConflictError](t, err); e.Key != "o1/pay/k1" || e.PaymentID != first.ID {
			t.Errorf("key conflict = %+v", e)
		}
		_, err = p.Charge(ctx, db, chargeReq("o2", "o1/pay/k1", 1999, payment.CardApproved), nil)
		as[*payment.KeyConflictError](t, err)
		_, err = p.Charge(ctx, db, chargeReq("o1", "o1/pay/k1", 1999, "5555555555554444"), nil)
		as[*payment.KeyConflictError](t, err)

		// Refusals before anything is written.
		for _, tc := range []struct {
			req   payment.ChargeRequest
			field string
		}{
			{chargeReq("", "k", 1, payment.CardApproved), "orderId"},
			{chargeReq("o9", "", 1, payment.CardApproved), "key"},
			{chargeReq("o9", strings.Repeat("k", 256), 1, payment.CardApproved), "key"},
			{chargeReq("o9", "k", 0, payment.CardApproved), "amount"},
			{payment.ChargeRequest{OrderID: "o9", Key: "k", Amount: 1, Currency: "yuan", Card: card(payment.CardApproved)}, "currency"},
		} {
			_, err := p.Charge(ctx, db, tc.req, nil)
			if e := as[*payment.InvalidRequestError](t, err); e.Field != tc.field {
				t.Errorf("invalid field %q, want %q", e.Field, tc.field)
			}
		}
		_, err = p.Charge(ctx, db, chargeReq("o9", "k", 1, "4242424242424241"), nil)
		as[*payment.InvalidCardError](t, err)

		list, err := p.Payments(ctx, db, "o1")
		if err != nil || len(list) != 1 || list[0].ID != first.ID || !list[0].CreatedAt.Equal(first.CreatedAt) {
			t.Errorf("payments = %+v, %v", list, err)
		}
		if list, err := p.Payments(ctx, db, "o9"); err != nil || len(list) != 0 {
			t.Errorf("payments of o9 = %+v, %v", list, err)
		}
		// The card number is nowhere in the ledger.
		var rows []map[string]any
		if err := db.Table("tmf_payments").Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		if dump := fmt.Sprint(rows); strings.Contains(dump, "424242424242") || !strings.Contains(dump, "4242") {
			t.Errorf("ledger rows: %s", dump)
		}
	})
}

func TestChargeConcurrentOneKey(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		sb := payment.NewSandbox(s.DB(ctx))
		sb.SetLatency(20 * time.Millisecond)
		p := payment.NewPayments(sb, nil)
		req := chargeReq("o1", "o1/pay", 500, payment.CardApproved)
		ids := make([]string, racers)
		errs := race(racers, func(i int) error {
			pay, err := p.Charge(ctx, s.DB(ctx), req, nil)
			if err == nil && pay.State != payment.StateSucceeded {
				return fmt.Errorf("state %s", pay.State)
			}
			ids[i] = pay.ID
			return err
		})
		paid, busy := 0, 0
		var id string
		for i, err := range errs {
			var ip *payment.InProgressError
			switch {
			case err == nil:
				paid++
				if id == "" {
					id = ids[i]
				}
				if ids[i] != id {
					t.Errorf("two payments for one key: %s and %s", id, ids[i])
				}
			case errors.As(err, &ip):
				busy++
				if ip.Key != req.Key || ip.OrderID != "o1" || ip.PaymentID == "" {
					t.Errorf("in progress = %+v", ip)
				}
			default:
				t.Errorf("racer %d: %v", i, err)
			}
		}
		if paid == 0 || paid+busy != racers {
			t.Errorf("%d paid, %d in progress", paid, busy)
		}
		if st := sb.Stats(); st.Authorizations != 1 || st.Captures != 1 || st.Captured != 500 {
			t.Errorf("processor: %+v", st)
		}
		final, err := p.Charge(ctx, s.DB(ctx), req, nil)
		if err != nil || (id != "" && final.ID != id) {
			t.Errorf("after the race: %+v, %v", final, err)
		}
		if b := balance(t, s, "o1"); b.Captured != 500 || b.ChargeID != final.ID {
			t.Errorf("balance = %+v", b)
		}
	})
}

func TestChargeConcurrentKeysOneOrder(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		sb := payment.NewSandbox(s.DB(ctx))
		sb.SetLatency(5 * time.Millisecond)
		p := payment.NewPayments(sb, nil)
		errs := race(racers, func(i int) error {
			_, err := p.Charge(ctx, s.DB(ctx), chargeReq("o1", fmt.Sprintf("o1/pay/%d", i), 500, payment.CardApproved), nil)
			return err
		})
		paid := 0
		for i, err := range errs {
			var ap *payment.AlreadyPaidError
			var ip *payment.InProgressError
			switch {
			case err == nil:
				paid++
			case errors.As(err, &ap), errors.As(err, &ip):
			default:
				t.Errorf("racer %d: %v", i, err)
			}
		}
		if paid != 1 {
			t.Errorf("%d charges succeeded, want 1", paid)
		}
		if st := sb.Stats(); st.Captures != 1 || st.Captured != 500 {
			t.Errorf("processor: %+v", st)
		}
		if b := balance(t, s, "o1"); b.Captured != 500 {
			t.Errorf("balance = %+v", b)
		}
		list, err := p.Payments(ctx, s.DB(ctx), "o1")
		if err != nil || len(list) != 1 || list[0].State != payment.StateSucceeded {
			t.Errorf("payments = %+v, %v", list, err)
		}
	})
}

func TestChargeDeclined(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		db := s.DB(ctx)
		for _, tc := range []struct {
			number, code   string
			authorizations int
		}{
			{payment.CardDeclined, "card_declined", 0},
			{payment.CardInsufficientFunds, "insufficient_funds", 0},
			{payment.CardExpired, "expired_card", 0},
			{payment.CardCaptureDeclined, "card_declined", 1},
		} {
			sb := payment.NewSandbox(s.DB(ctx))
			p := payment.NewPayments(sb, nil)
			order := "o-" + tc.number
			pay, err := p.Charge(ctx, db, chargeReq(order, order+"/1", 700, tc.number), nil)
			if err != nil || pay.State != payment.StateFailed || pay.FailureCode != tc.code || pay.FailureMessage == "" ||
				pay.ProcessorRef != "" {
				t.Fatalf("%s: charge = %+v, %v", tc.number, pay, err)
			}
			if b := balance(t, s, order); b.Captured != 0 || b.ChargeID != "" {
				t.Errorf("%s: balance = %+v", tc.number, b)
			}
			if st := sb.Stats(); st.Captures != 0 || st.Captured != 0 || st.Authorizations != tc.authorizations {
				t.Errorf("%s: processor %+v", tc.number, st)
			}
			// The failed payment is the answer to its key; nothing is called again.
			again, err := p.Charge(ctx, db, chargeReq(order, order+"/1", 700, tc.number), nil)
			if err != nil || again.ID != pay.ID || again.State != payment.StateFailed || sb.Stats().Calls[payment.OpAuthorize] != 1 {
				t.Errorf("%s: replay = %+v, %v", tc.number, again, err)
			}
			// The order may be paid with another card and key.
			ok, err := p.Charge(ctx, db, chargeReq(order, order+"/2", 700, payment.CardApproved), nil)
			if err != nil || ok.State != payment.StateSucceeded {
				t.Fatalf("%s: second charge = %+v, %v", tc.number, ok, err)
			}
			if b := balance(t, s, order); b.Captured != 700 || b.ChargeID != ok.ID {
				t.Errorf("%s: balance = %+v", tc.number, b)
			}
			list, err := p.Payments(ctx, db, order)
			if err != nil || len(list) != 2 || list[0].State != payment.StateFailed || list[1].State != payment.StateSucceeded {
				t.Errorf("%s: payments = %+v, %v", tc.number, list, err)
			}
		}
	})
}

func TestChargeProcessorErrorKeepsItPending(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		db := s.DB(ctx)
		sb := payment.NewSandbox(s.DB(ctx))
		p := payment.NewPayments(sb, nil)
		sb.AddRule(payment.Rule{Op: payment.OpCapture, Times: 1, Processor: true, Code: "acquirer_down"})

		req := chargeReq("o1", "o1/pay", 300, payment.CardApproved)
		_, err := p.Charge(ctx, db, req, nil)
		if e := as[*payment.ProcessorError](t, err); e.Code != "acquirer_down" {
			t.Errorf("processor error = %+v", e)
		}
		list, _ := p.Payments(ctx, db, "o1")
		if len(list) != 1 || list[0].State != payment.StatePending || list[0].FailureCode != "acquirer_down" || list[0].Attempts != 1 {
			t.Fatalf("payments = %+v", list)
		}
		// Another key is told which payment holds the order.
		_, err = p.Charge(ctx, db, chargeReq("o1", "o1/other", 300, payment.CardApproved), nil)
		if e := as[*payment.InProgressError](t, err); e.Key != req.Key || e.PaymentID != list[0].ID {
			t.Errorf("in progress = %+v", e)
		}
		// The same key finishes it: the authorization is replayed, the capture done once.
		pay, err := p.Charge(ctx, db, req, nil)
		if err != nil || pay.State != payment.StateSucceeded || pay.ID != list[0].ID || pay.Attempts != 2 || pay.FailureCode != "" {
			t.Fatalf("retry = %+v, %v", pay, err)
		}
		if st := sb.Stats(); st.Authorizations != 1 || st.Captures != 1 || st.Captured != 300 {
			t.Errorf("processor: %+v", st)
		}
		if b := balance(t, s, "o1"); b.Captured != 300 {
			t.Errorf("balance = %+v", b)
		}

		// A card that hangs: the caller's deadline ends the call, the payment stays pending.
		// The deadline also covers the writes before the call, so it is
		// generous: a busy machine's database may take a while (the card
		// hangs until the deadline, whatever it is).
		hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err = p.Charge(hctx, db, chargeReq("o2", "o2/pay", 300, payment.CardHangs), nil)
		if e := as[*payment.ProcessorError](t, err); e.Code != "timeout" || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("hang = %v", err)
		}
		list, _ = p.Payments(ctx, db, "o2")
		if len(list) != 1 || list[0].State != payment.StatePending || list[0].FailureCode != "timeout" {
			t.Errorf("payments = %+v", list)
		}
	})
}

// gate holds the first Authorize until released, as a slow acquirer.
type gate struct {
	payment.Processor
	once             sync.Once
	entered, release chan struct{}
}

func (g *gate) Authorize(ctx context.Context, req payment.AuthorizeRequest) (payment.Authorization, error) {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.entered)
		<-g.release
	}
	return g.Processor.Authorize(ctx, req)
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestChargeLeaseTakeover(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		sb := payment.NewSandbox(s.DB(ctx))
		g := &gate{Processor: sb, entered: make(chan struct{}), release: make(chan struct{})}
		clk := &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
		p := payment.NewPayments(g, clk.Now)
		p.Lease = time.Minute
		req := chargeReq("o1", "o1/pay", 800, payment.CardApproved)

		type result struct {
			pay payment.Payment
			err error
		}
		slow := make(chan result, 1)
		go func() {
			pay, err := p.Charge(ctx, s.DB(ctx), req, nil)
			slow <- result{pay, err}
		}()
		<-g.entered
		_, err := p.Charge(ctx, s.DB(ctx), req, nil)
		if e := as[*payment.InProgressError](t, err); e.Key != req.Key {
			t.Errorf("in progress = %+v", e)
		}
		// The lease runs out: the next call with the key takes the payment over.
		clk.Advance(61 * time.Second)
		pay, err := p.Charge(ctx, s.DB(ctx), req, nil)
		if err != nil || pay.State != payment.StateSucceeded || pay.Attempts != 2 {
			t.Fatalf("takeover = %+v, %v", pay, err)
		}
		// The slow call comes back: the processor replays, the ledger keeps one outcome.
		close(g.release)
		r := <-slow
		if r.err != nil || r.pay.ID != pay.ID || r.pay.State != payment.StateSucceeded {
			t.Errorf("slow call = %+v, %v", r.pay, r.err)
		}
		if st := sb.Stats(); st.Authorizations != 1 || st.Captures != 1 || st.Captured != 800 {
			t.Errorf("processor: %+v", st)
		}
		if b := balance(t, s, "o1"); b.Captured != 800 {
			t.Errorf("balance = %+v", b)
		}
		if !pay.CreatedAt.Equal(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)) {
			t.Errorf("created at %v, not the clock's", pay.CreatedAt)
		}
	})
}

func refundReq(order, key string, amount int64) payment.RefundOrderRequest {
	return payment.RefundOrderRequest{OrderID: order, Key: key, Amount: amount, Reason: "return"}
}

func TestRefunds(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		db := s.DB(ctx)
		sb := payment.NewSandbox(s.DB(ctx))
		p := payment.NewPayments(sb, nil)
		if _, err := p.Charge(ctx, db, chargeReq("o1", "o1/pay", 1000, payment.CardApproved), nil); err != nil {
			t.Fatal(err)
		}

		r1, err := p.Refund(ctx, db, refundReq("o1", "o1/refund/1", 300))
		if err != nil || r1.State != payment.StateSucceeded || r1.Kind != payment.KindRefund || r1.Amount != 300 ||
			r1.Currency != "CNY" || r1.Reason != "return" || r1.ProcessorRef == "" {
			t.Fatalf("partial refund = %+v, %v", r1, err)
		}
		again, err := p.Refund(ctx, db, refundReq("o1", "o1/refund/1", 300))
		if err != nil || again.ID != r1.ID || sb.Stats().Calls[payment.OpRefund] != 1 {
			t.Errorf("replay = %+v, %v", again, err)
		}
		_, err = p.Refund(ctx, db, refundReq("o1", "o1/refund/1", 301))
		as[*payment.KeyConflictError](t, err)
		_, err = p.Refund(ctx, db, refundReq("o1", "o1/pay", 300))
		as[*payment.KeyConflictError](t, err)

		_, err = p.Refund(ctx, db, refundReq("o1", "o1/refund/2", 800))
		if e := as[*payment.RefundExceedsError](t, err); e.Requested != 800 || e.Refundable != 700 || e.OrderID != "o1" {
			t.Errorf("exceeds = %+v", e)
		}
		// A declined refund gives its amount back.
		sb.AddRule(payment.Rule{Op: payment.OpRefund, Times: 1, Code: "refund_declined"})
		r3, err := p.Refund(ctx, db, refundReq("o1", "o1/refund/3", 700))
		if err != nil || r3.State != payment.StateFailed || r3.FailureCode != "refund_declined" {
			t.Fatalf("declined refund = %+v, %v", r3, err)
		}
		if b := balance(t, s, "o1"); b.Refunded != 300 {
			t.Errorf("balance after a declined refund = %+v", b)
		}
		// A processor error keeps the amount reserved until the same key finishes.
		sb.AddRule(payment.Rule{Op: payment.OpRefund, Times: 1, Processor: true})
		_, err = p.Refund(ctx, db, refundReq("o1", "o1/refund/4", 700))
		as[*payment.ProcessorError](t, err)
		if b := balance(t, s, "o1"); b.Refunded != 1000 {
			t.Errorf("balance with a pending refund = %+v", b)
		}
		_, err = p.Refund(ctx, db, refundReq("o1", "o1/refund/5", 1))
		if e := as[*payment.RefundExceedsError](t, err); e.Refundable != 0 {
			t.Errorf("exceeds = %+v", e)
		}
		r4, err := p.Refund(ctx, db, refundReq("o1", "o1/refund/4", 700))
		if err != nil || r4.State != payment.StateSucceeded || r4.Attempts != 2 {
			t.Fatalf("finished refund = %+v, %v", r4, err)
		}
		if b := balance(t, s, "o1"); b.Captured != 1000 || b.Refunded != 1000 {
			t.Errorf("balance = %+v", b)
		}
		if st := sb.Stats(); st.Refunds != 2 || st.Refunded != 1000 {
			t.Errorf("processor: %+v", st)
		}

		// Never paid, unknown, or only pending: nothing to refund.
		_, err = p.Refund(ctx, db, refundReq("nobody", "nobody/refund", 1))
		if e := as[*payment.RefundExceedsError](t, err); e.Refundable != 0 {
			t.Errorf("exceeds = %+v", e)
		}
		if _, err := p.Charge(ctx, db, chargeReq("o2", "o2/pay", 100, payment.CardDeclined), nil); err != nil {
			t.Fatal(err)
		}
		_, err = p.Refund(ctx, db, refundReq("o2", "o2/refund", 1))
		as[*payment.RefundExceedsError](t, err)
		_, err = p.Refund(ctx, db, refundReq("o2", "o2/refund", 0))
		as[*payment.InvalidRequestError](t, err)

		list, err := p.Payments(ctx, db, "o1")
		if err != nil || len(list) != 4 {
			t.Fatalf("payments = %+v, %v", list, err)
		}
		var refunded int64
		for _, pay := range list {
			if pay.Kind == payment.KindRefund && pay.State == payment.StateSucceeded {
				refunded += pay.Amount
			}
		}
		if refunded != 1000 {
			t.Errorf("succeeded refunds sum to %d", refunded)
		}
	})
}

func TestRefundsConcurrentNeverExceedTheCapture(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		sb := payment.NewSandbox(s.DB(ctx))
		p := payment.NewPayments(sb, nil)
		if _, err := p.Charge(ctx, s.DB(ctx), chargeReq("o1", "o1/pay", capacity, payment.CardApproved), nil); err != nil {
			t.Fatal(err)
		}
		sb.SetLatency(2 * time.Millisecond)
		errs := race(racers, func(i int) error {
			pay, err := p.Refund(ctx, s.DB(ctx), refundReq("o1", fmt.Sprintf("o1/refund/%d", i), 1))
			if err == nil && pay.State != payment.StateSucceeded {
				return fmt.Errorf("state %s", pay.State)
			}
			return err
		})
		ok, refused := 0, 0
		for i, err := range errs {
			var ex *payment.RefundExceedsError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &ex):
				refused++
				if ex.Requested != 1 || ex.Refundable != 0 {
					t.Errorf("exceeds = %+v", ex)
				}
			default:
				t.Errorf("racer %d: %v", i, err)
			}
		}
		if want := min(racers, capacity); ok != want || refused != racers-want {
			t.Errorf("%d refunds succeeded, %d refused; want %d, %d", ok, refused, want, racers-want)
		}
		if b := balance(t, s, "o1"); b.Captured != capacity || b.Refunded != capacity {
			t.Errorf("balance = %+v", b)
		}
		if st := sb.Stats(); st.Refunds != capacity || st.Refunded != capacity {
			t.Errorf("processor: %+v", st)
		}
		list, err := p.Payments(ctx, s.DB(ctx), "o1")
		if err != nil {
			t.Fatal(err)
		}
		refunds := 0
		for _, pay := range list {
			if pay.Kind == payment.KindRefund {
				refunds++
				if pay.State != payment.StateSucceeded {
					t.Errorf("refund left %s", pay.State)
				}
			}
		}
		if refunds != capacity {
			t.Errorf("%d refund rows, want %d", refunds, capacity)
		}
	})
}
