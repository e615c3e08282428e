package payment_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// recoverAll runs recovery passes until nothing is taken.
func recoverAll(t *testing.T, p *payment.Payments, s *store.Store) {
	t.Helper()
	for range 10 {
		st, err := p.Recover(context.Background(), s.DB(context.Background()), 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.Taken == 0 {
			return
		}
	}
}

func paymentOf(t *testing.T, p *payment.Payments, s *store.Store, id string) payment.Payment {
	t.Helper()
	list, err := p.Payments(context.Background(), s.DB(context.Background()), "o1")
	if err != nil {
		t.Fatal(err)
	}
	for _, pay := range list {
		if pay.ID == id {
			return pay
		}
	}
	t.Fatalf("no payment %s", id)
	return payment.Payment{}
}

func onlyPayment(t *testing.T, p *payment.Payments, s *store.Store, order string) payment.Payment {
	t.Helper()
	list, err := p.Payments(context.Background(), s.DB(context.Background()), order)
	if err != nil || len(list) != 1 {
		t.Fatalf("payments of %s = %+v, %v", order, list, err)
	}
	return list[0]
}

// Recovery settles every attempt its caller left pending, from what the
// processor knows of its keys, once the lease and the caller's grace have
// run out — and not before.
func TestRecoverySettlesAbandonedCharges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		card  string
		rule  *payment.Rule
		state string
		code  string
		// captured is the order's balance after recovery; voids counts the
		// authorizations recovery let go.
		captured int64
		voids    int
	}{
		{name: "capture done, its answer lost", card: payment.CardAnswerLost, state: payment.StateSucceeded, captured: 500},
		{name: "authorized, capture never answered", card: payment.CardCaptureHangs, state: payment.StateFailed,
			code: payment.FailureAbandoned, voids: 1},
		{name: "nothing reached the processor", card: payment.CardApproved,
			rule: &payment.Rule{Op: payment.OpAuthorize, Times: 1, Processor: true}, state: payment.StateFailed, code: payment.FailureAbandoned},
		{name: "a rule loses the capture's answer", card: payment.CardApproved,
			rule:  &payment.Rule{Op: payment.OpCapture, Times: 1, Lost: true},
			state: payment.StateSucceeded, captured: 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.ForEach(t, func(t *testing.T, s *store.Store) {
				ctx := context.Background()
				migrate(t, s)
				db := s.DB(ctx)
				clk := &clock{now: time.Now()}
				sb := payment.NewSandbox(db)
				p := payment.NewPayments(sb, clk.Now)
				p.CallTimeout = 200 * time.Millisecond
				if tc.rule != nil {
					sb.AddRule(*tc.rule)
				}
				if _, err := p.Charge(ctx, db, chargeReq("o1", "o1/pay", 500, tc.card), nil); err == nil {
					t.Fatal("the charge answered; want the attempt left pending")
				}
				if got := onlyPayment(t, p, s, "o1"); got.State != payment.StatePending {
					t.Fatalf("after the failed call: %+v", got)
				}
				// Within the caller's grace, recovery leaves it to a retry with its key.
				recoverAll(t, p, s)
				if got := onlyPayment(t, p, s, "o1"); got.State != payment.StatePending {
					t.Fatalf("recovery did not wait for the caller's retry: %+v", got)
				}
				clk.Advance(payment.DefaultRetryAfter + time.Second)
				recoverAll(t, p, s)
				got := onlyPayment(t, p, s, "o1")
				if got.State != tc.state || got.FailureCode != tc.code {
					t.Fatalf("after recovery: %+v; want %s %q", got, tc.state, tc.code)
				}
				b := balance(t, s, "o1")
				if b.Captured != tc.captured || (tc.state == payment.StateFailed) != (b.ChargeID == "") {
					t.Errorf("balance %+v; want captured %d, the slot freed only when the charge failed", b, tc.captured)
				}
				if st := sb.Stats(); st.Voids != tc.voids {
					t.Errorf("voids %d, want %d", st.Voids, tc.voids)
				}
				// The order can be paid again once the attempt failed.
				if tc.state == payment.StateFailed {
					if pay, err := p.Charge(ctx, db, chargeReq("o1", "o1/again", 500, payment.CardApproved), nil); err != nil ||
						pay.State != payment.StateSucceeded {
						t.Fatalf("pay again: %+v, %v", pay, err)
					}
				}
			})
		})
	}
}

// A live caller's lease keeps recovery away.
func TestRecoveryLeavesLeasedAttempts(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		db := s.DB(ctx)
		clk := &clock{now: time.Now()}
		g := &gate{Processor: payment.NewSandbox(db), entered: make(chan struct{}), release: make(chan struct{})}
		p := payment.NewPayments(g, clk.Now)
		done := make(chan error, 1)
		go func() {
			_, err := p.Charge(ctx, db, chargeReq("o1", "o1/pay", 500, payment.CardApproved), nil)
			done <- err
		}()
		<-g.entered
		clk.Advance(payment.DefaultLease / 2)
		recoverAll(t, p, s)
		if got := onlyPayment(t, p, s, "o1"); got.State != payment.StatePending || got.Attempts != 1 {
			t.Fatalf("recovery took a leased attempt: %+v", got)
		}
		close(g.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := onlyPayment(t, p, s, "o1"); got.State != payment.StateSucceeded {
			t.Fatalf("after the caller: %+v", got)
		}
	})
}

// Owed refunds are paid by recovery, again with a widening backoff while
// the processor fails; a refusal for good is listed, counted and retried
// by an operator.
func TestOwedRefundsBackoffFailAndRetry(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		db := s.DB(ctx)
		clk := &clock{now: time.Now()}
		sb := payment.NewSandbox(db)
		p := payment.NewPayments(sb, clk.Now)
		var failed []string
		p.OnRefundFailed = func(pay payment.Payment) { failed = append(failed, pay.ID) }
		if _, err := p.Charge(ctx, db, chargeReq("o1", "o1/pay", 900, payment.CardApproved), nil); err != nil {
			t.Fatal(err)
		}
		owe := func(key string, amount int64) payment.Payment {
			var pay payment.Payment
			if err := s.Tx(ctx, func(tx *gorm.DB) error {
				var err error
				pay, _, err = p.OweRefund(ctx, tx, payment.RefundOrderRequest{OrderID: "o1", Key: key, Amount: amount, Reason: "test"})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return pay
		}
		// Three transient failures: each retry waits twice as long.
		sb.AddRule(payment.Rule{Op: payment.OpRefund, Times: 3, Processor: true})
		r := owe("o1/refund/1", 300)
		if b := balance(t, s, "o1"); b.Refunded != 300 {
			t.Fatalf("an owed refund is reserved at once: %+v", b)
		}
		var waits []time.Duration
		for range 3 {
			recoverAll(t, p, s)
			cur := paymentOf(t, p, s, r.ID)
			if cur.State != payment.StatePending {
				t.Fatalf("after a transient failure: %+v", cur)
			}
			wait := time.UnixMicro(cur.NextAttemptForTest()).Sub(clk.Now())
			waits = append(waits, wait)
			clk.Advance(wait + time.Millisecond)
		}
		if !(waits[0] >= payment.DefaultBackoff-time.Millisecond && waits[1] >= 2*waits[0]-time.Millisecond && waits[2] >= 2*waits[1]-time.Millisecond) {
			t.Errorf("backoff waits %v do not widen", waits)
		}
		recoverAll(t, p, s)
		if cur := paymentOf(t, p, s, r.ID); cur.State != payment.StateSucceeded || cur.Attempts != 4 {
			t.Fatalf("after the processor came back: %+v", cur)
		}
		// Owing the same key again changes nothing.
		owe("o1/refund/1", 300)
		if b := balance(t, s, "o1"); b.Refunded != 300 {
			t.Fatalf("owed twice: %+v", b)
		}

		// A refusal for good.
		sb.AddRule(payment.Rule{Op: payment.OpRefund, Times: 1, Code: "refund_declined"})
		r2 := owe("o1/refund/2", 200)
		recoverAll(t, p, s)
		if cur := paymentOf(t, p, s, r2.ID); cur.State != payment.StateFailed || len(failed) != 1 || failed[0] != r2.ID {
			t.Fatalf("refused refund %+v, reported %v", cur, failed)
		}
		if b := balance(t, s, "o1"); b.Refunded != 300 {
			t.Fatalf("a refused refund gives its amount back: %+v", b)
		}
		list, err := p.FailedRefunds(ctx, db, "", 0)
		if err != nil || len(list) != 1 || list[0].ID != r2.ID {
			t.Fatalf("failed refunds %+v, %v", list, err)
		}
		retry, err := p.RetryRefund(ctx, db, r2.ID)
		if err != nil || retry.State != payment.StatePending || retry.Amount != 200 || retry.IdemKey != "o1/refund/2/retry/1" {
			t.Fatalf("retry %+v, %v", retry, err)
		}
		if again, err := p.RetryRefund(ctx, db, r2.ID); err != nil || again.ID != retry.ID {
			t.Fatalf("retrying twice: %+v, %v", again, err)
		}
		if _, err := p.RetryRefund(ctx, db, r.ID); err == nil {
			t.Fatal("a succeeded refund was retried")
		}
		recoverAll(t, p, s)
		if cur := paymentOf(t, p, s, retry.ID); cur.State != payment.StateSucceeded {
			t.Fatalf("the retry: %+v", cur)
		}
		if list, _ := p.FailedRefunds(ctx, db, "", 0); len(list) != 0 {
			t.Fatalf("still listed after its retry: %+v", list)
		}
		if b := balance(t, s, "o1"); b.Captured != 900 || b.Refunded != 500 {
			t.Fatalf("balance %+v", b)
		}
	})
}

// The sandbox keeps its state in the database: another process (another
// Sandbox value on the same database) refunds a capture, and a lost answer
// is found by key.
func TestSandboxStateIsShared(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		one, two := payment.NewSandbox(s.DB(ctx)), payment.NewSandbox(s.DB(ctx))
		a, err := one.Authorize(ctx, payment.AuthorizeRequest{Key: "k/a", Card: card(payment.CardApproved), Amount: 700, Currency: "CNY"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := one.Capture(ctx, payment.CaptureRequest{Key: "k/c", AuthorizationID: a.ID, Amount: 700})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := two.Refund(ctx, payment.RefundRequest{Key: "k/r", CaptureID: c.ID, Amount: 700}); err != nil {
			t.Fatalf("another process refunds: %v", err)
		}
		if _, err := two.Refund(ctx, payment.RefundRequest{Key: "k/r2", CaptureID: c.ID, Amount: 1}); outcome(err) != "decline:amount_too_large" {
			t.Fatalf("refund beyond the capture: %v", err)
		}
		out, err := two.Lookup(ctx, payment.OpCapture, "k/c")
		if err != nil || !out.Found || out.ID != c.ID || out.Parent != a.ID || out.Amount != 700 {
			t.Fatalf("lookup %+v, %v", out, err)
		}
		if out, err := two.Lookup(ctx, payment.OpCapture, "k/none"); err != nil || out.Found || out.InProgress {
			t.Fatalf("lookup of an unknown key %+v, %v", out, err)
		}
		// Void: a captured authorization cannot be voided, a voided one not captured.
		if _, err := two.Void(ctx, payment.VoidRequest{Key: "k/v", AuthorizationID: a.ID}); outcome(err) != "decline:already_captured" {
			t.Fatalf("void of a captured authorization: %v", err)
		}
		b, _ := one.Authorize(ctx, payment.AuthorizeRequest{Key: "k2/a", Card: card(payment.CardApproved), Amount: 50, Currency: "CNY"})
		if _, err := two.Void(ctx, payment.VoidRequest{Key: "k2/v", AuthorizationID: b.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := one.Capture(ctx, payment.CaptureRequest{Key: "k2/c", AuthorizationID: b.ID, Amount: 50}); outcome(err) != "decline:authorization_voided" {
			t.Fatalf("capture of a voided authorization: %v", err)
		}
		// A lost answer: the capture happened; the same key replays it.
		l, _ := one.Authorize(ctx, payment.AuthorizeRequest{Key: "k3/a", Card: card(payment.CardAnswerLost), Amount: 80, Currency: "CNY"})
		if _, err := one.Capture(ctx, payment.CaptureRequest{Key: "k3/c", AuthorizationID: l.ID, Amount: 80}); outcome(err) != "processor:connection_reset" {
			t.Fatalf("lost answer: %v", err)
		}
		again, err := two.Capture(ctx, payment.CaptureRequest{Key: "k3/c", AuthorizationID: l.ID, Amount: 80})
		if err != nil || again.Amount != 80 || one.Stats().Captures+two.Stats().Captures != 2 {
			t.Fatalf("replay after a lost answer: %+v, %v", again, err)
		}
	})
}
