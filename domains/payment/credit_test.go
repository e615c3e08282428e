package payment_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

func cny(a int64) extensions.Money { return extensions.Money{Amount: a, Currency: "CNY"} }

func setLimit(t *testing.T, s *store.Store, agent string, limit int64) payment.AgentCredit {
	t.Helper()
	var acct payment.AgentCredit
	err := s.Tx(context.Background(), func(tx *gorm.DB) error {
		var err error
		acct, err = payment.SetCreditLimit(context.Background(), tx, agent, "CNY", limit)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return acct
}

// account returns the agent's account after checking it against its
// ledger: limit = available + reserved + used, none negative, reserved and
// used as the moves add up.
func account(t *testing.T, s *store.Store, agent string) payment.AgentCredit {
	t.Helper()
	ctx := context.Background()
	acct, err := payment.CreditAccount(ctx, s.DB(ctx), agent)
	if err != nil {
		t.Fatal(err)
	}
	moves, err := payment.CreditMoves(ctx, s.DB(ctx), agent)
	if err != nil {
		t.Fatal(err)
	}
	var limit, reserved, used int64
	for _, m := range moves {
		switch m.Kind {
		case payment.MoveLimit:
			limit = m.Amount
		case payment.MoveReserve:
			reserved += m.Amount
		case payment.MoveCapture:
			reserved -= m.Amount
			used += m.Amount
		case payment.MoveRelease:
			reserved -= m.Amount
		case payment.MoveRefund:
			used -= m.Amount
		}
	}
	if acct.Available < 0 || acct.Reserved < 0 || acct.Used < 0 ||
		acct.CreditLimit != acct.Available+acct.Reserved+acct.Used ||
		acct.CreditLimit != limit || acct.Reserved != reserved || acct.Used != used {
		t.Errorf("account %+v disagrees with its ledger: limit %d reserved %d used %d", acct, limit, reserved, used)
	}
	return acct
}

func inTx(s *store.Store, fn func(tx *gorm.DB) error) error {
	return s.Tx(context.Background(), fn)
}

func TestCreditLimit(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		_, err := payment.CreditAccount(ctx, s.DB(ctx), "agent-1")
		if e := as[*payment.CreditAccountNotFoundError](t, err); e.Agent != "agent-1" {
			t.Errorf("not found = %+v", e)
		}
		if a := setLimit(t, s, "agent-1", 1000); a.CreditLimit != 1000 || a.Available != 1000 || a.Currency != "CNY" {
			t.Fatalf("account = %+v", a)
		}
		if err := inTx(s, func(tx *gorm.DB) error { return payment.ReserveCredit(ctx, tx, "o1", "agent-1", cny(300)) }); err != nil {
			t.Fatal(err)
		}
		if a := setLimit(t, s, "agent-1", 1500); a.CreditLimit != 1500 || a.Available != 1200 || a.Reserved != 300 {
			t.Errorf("raised = %+v", a)
		}
		err = inTx(s, func(tx *gorm.DB) error {
			_, err := payment.SetCreditLimit(ctx, tx, "agent-1", "CNY", 299)
			return err
		})
		if e := as[*payment.CreditLimitError](t, err); e.Limit != 299 || e.InUse != 300 || e.Agent != "agent-1" {
			t.Errorf("limit error = %+v", e)
		}
		if a := setLimit(t, s, "agent-1", 300); a.Available != 0 || a.Reserved != 300 {
			t.Errorf("lowered = %+v", a)
		}
		if a := setLimit(t, s, "agent-1", 300); a.Available != 0 || a.CreditLimit != 300 {
			t.Errorf("unchanged = %+v", a)
		}
		err = inTx(s, func(tx *gorm.DB) error {
			_, err := payment.SetCreditLimit(ctx, tx, "agent-1", "EUR", 300)
			return err
		})
		if e := as[*payment.CurrencyMismatchError](t, err); e.Want != "CNY" || e.Got != "EUR" {
			t.Errorf("mismatch = %+v", e)
		}
		err = inTx(s, func(tx *gorm.DB) error {
			_, err := payment.SetCreditLimit(ctx, tx, "agent-1", "CNY", -1)
			return err
		})
		as[*payment.InvalidRequestError](t, err)
		if a := account(t, s, "agent-1"); a.CreditLimit != 300 || a.Available != 0 || a.Reserved != 300 || a.Used != 0 {
			t.Errorf("account = %+v", a)
		}
	})
}

func TestReserveCreditRefusals(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		reserve := func(order, agent string, m extensions.Money) error {
			return inTx(s, func(tx *gorm.DB) error { return payment.ReserveCredit(ctx, tx, order, agent, m) })
		}
		as[*payment.CreditAccountNotFoundError](t, reserve("o1", "nobody", cny(1)))
		setLimit(t, s, "agent-1", 100)
		if e := as[*payment.CurrencyMismatchError](t, reserve("o1", "agent-1", extensions.Money{Amount: 1, Currency: "USD"})); e.Want != "CNY" {
			t.Errorf("mismatch = %+v", e)
		}
		e := as[*payment.InsufficientCreditError](t, reserve("o1", "agent-1", cny(101)))
		if e.Agent != "agent-1" || e.Requested != 101 || e.Available != 100 {
			t.Errorf("insufficient = %+v", e)
		}
		as[*payment.InvalidRequestError](t, reserve("o1", "agent-1", cny(0)))
		as[*payment.InvalidRequestError](t, reserve("", "agent-1", cny(1)))
		// The refusals rolled back: nothing is reserved, no move is left.
		if a := account(t, s, "agent-1"); a.Available != 100 || a.Reserved != 0 {
			t.Errorf("account = %+v", a)
		}
		if err := reserve("o1", "agent-1", cny(60)); err != nil {
			t.Fatal(err)
		}
		// Again for the same order: nothing moves.
		if err := reserve("o1", "agent-1", cny(60)); err != nil {
			t.Fatal(err)
		}
		if e := as[*payment.CreditReservationError](t, reserve("o1", "agent-1", cny(61))); e.State != payment.ReservationReserved || e.Op != "reserve" {
			t.Errorf("reservation error = %+v", e)
		}
		if a := account(t, s, "agent-1"); a.Available != 40 || a.Reserved != 60 {
			t.Errorf("account = %+v", a)
		}
	})
}

func TestReserveCreditConcurrent(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		setLimit(t, s, "agent-1", capacity)
		errs := race(racers, func(i int) error {
			return inTx(s, func(tx *gorm.DB) error {
				return payment.ReserveCredit(ctx, tx, fmt.Sprintf("o%d", i), "agent-1", cny(1))
			})
		})
		ok, refused := 0, 0
		for i, err := range errs {
			var ic *payment.InsufficientCreditError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &ic):
				refused++
				if ic.Requested != 1 || ic.Available != 0 {
					t.Errorf("insufficient = %+v", ic)
				}
			default:
				t.Errorf("racer %d: %v", i, err)
			}
		}
		if want := min(racers, capacity); ok != want || refused != racers-want {
			t.Errorf("%d reserved, %d refused; want %d, %d", ok, refused, want, racers-want)
		}
		if a := account(t, s, "agent-1"); a.Available != 0 || a.Reserved != capacity || a.Used != 0 || a.CreditLimit != capacity {
			t.Errorf("account = %+v", a)
		}
	})
}

func TestCreditLifecycle(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		setLimit(t, s, "agent-1", 1000)
		for order, amount := range map[string]int64{"o1": 400, "o2": 300} {
			if err := inTx(s, func(tx *gorm.DB) error { return payment.ReserveCredit(ctx, tx, order, "agent-1", cny(amount)) }); err != nil {
				t.Fatal(err)
			}
		}
		capture := func(order string) (payment.Payment, error) {
			var pay payment.Payment
			err := inTx(s, func(tx *gorm.DB) error {
				var err error
				pay, err = payment.CaptureCredit(ctx, tx, order)
				return err
			})
			return pay, err
		}
		release := func(order string) error {
			return inTx(s, func(tx *gorm.DB) error { return payment.ReleaseCredit(ctx, tx, order) })
		}
		refund := func(order, key string, amount int64) (payment.Payment, error) {
			var pay payment.Payment
			err := inTx(s, func(tx *gorm.DB) error {
				var err error
				pay, err = payment.RefundCredit(ctx, tx, order, key, amount)
				return err
			})
			return pay, err
		}

		// Capture twice: one payment, one move.
		pay, err := capture("o1")
		if err != nil || pay.State != payment.StateSucceeded || pay.Method != payment.MethodAgentCredit ||
			pay.Kind != payment.KindCharge || pay.Amount != 400 || pay.Currency != "CNY" {
			t.Fatalf("capture = %+v, %v", pay, err)
		}
		again, err := capture("o1")
		if err != nil || again.ID != pay.ID {
			t.Errorf("capture again = %+v, %v", again, err)
		}
		if a := account(t, s, "agent-1"); a.Available != 300 || a.Reserved != 300 || a.Used != 400 {
			t.Errorf("after capture: %+v", a)
		}
		if b := balance(t, s, "o1"); b.Captured != 400 || b.ChargeID != pay.ID || b.Method != payment.MethodAgentCredit {
			t.Errorf("balance = %+v", b)
		}
		// Release twice: one move.
		for range 2 {
			if err := release("o2"); err != nil {
				t.Fatal(err)
			}
		}
		if a := account(t, s, "agent-1"); a.Available != 600 || a.Reserved != 0 || a.Used != 400 {
			t.Errorf("after release: %+v", a)
		}
		// Wrong states.
		_, err = capture("o2")
		if e := as[*payment.CreditReservationError](t, err); e.State != payment.ReservationReleased || e.Op != payment.MoveCapture {
			t.Errorf("capture released = %+v", e)
		}
		if e := as[*payment.CreditReservationError](t, release("o1")); e.State != payment.ReservationCaptured {
			t.Errorf("release captured = %+v", e)
		}
		_, err = capture("o3")
		if e := as[*payment.CreditReservationError](t, err); e.State != payment.ReservationNone {
			t.Errorf("capture unreserved = %+v", e)
		}
		_, err = refund("o2", "o2/r", 1)
		if e := as[*payment.CreditReservationError](t, err); e.State != payment.ReservationReleased {
			t.Errorf("refund released = %+v", e)
		}
		if err := release("o3"); err != nil {
			t.Errorf("release of an order without credit: %v", err)
		}

		// Refunds: partial, idempotent, never beyond the capture.
		r1, err := refund("o1", "o1/r1", 100)
		if err != nil || r1.Kind != payment.KindRefund || r1.Amount != 100 || r1.State != payment.StateSucceeded || r1.IdemKey != "o1/r1" {
			t.Fatalf("refund = %+v, %v", r1, err)
		}
		if again, err := refund("o1", "o1/r1", 100); err != nil || again.ID != r1.ID {
			t.Errorf("refund again = %+v, %v", again, err)
		}
		_, err = refund("o1", "o1/r1", 101)
		as[*payment.KeyConflictError](t, err)
		_, err = refund("o1", "o1/r2", 301)
		if e := as[*payment.RefundExceedsError](t, err); e.Requested != 301 || e.Refundable != 300 {
			t.Errorf("exceeds = %+v", e)
		}
		if a := account(t, s, "agent-1"); a.Available != 700 || a.Used != 300 {
			t.Errorf("after a partial refund: %+v", a)
		}
		// Payments.Refund routes an agent-credit order to its credit.
		p := payment.NewPayments(payment.NewSandbox(s.DB(ctx)), nil)
		r2, err := p.Refund(ctx, s.DB(ctx), payment.RefundOrderRequest{OrderID: "o1", Key: "o1/r2", Amount: 300})
		if err != nil || r2.Method != payment.MethodAgentCredit || r2.State != payment.StateSucceeded {
			t.Fatalf("refund through Payments = %+v, %v", r2, err)
		}
		if a := account(t, s, "agent-1"); a.Available != 1000 || a.Reserved != 0 || a.Used != 0 {
			t.Errorf("after full refund: %+v", a)
		}
		if b := balance(t, s, "o1"); b.Captured != 400 || b.Refunded != 400 {
			t.Errorf("balance = %+v", b)
		}
		// A card charge of a credit-paid order is refused.
		_, err = p.Charge(ctx, s.DB(ctx), chargeReq("o1", "o1/card", 400, payment.CardApproved), nil)
		if e := as[*payment.AlreadyPaidError](t, err); e.PaymentID != pay.ID {
			t.Errorf("already paid = %+v", e)
		}
		list, err := p.Payments(ctx, s.DB(ctx), "o1")
		if err != nil || len(list) != 3 {
			t.Errorf("payments = %+v, %v", list, err)
		}
	})
}

func TestRefundCreditConcurrent(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		migrate(t, s)
		setLimit(t, s, "agent-1", 100)
		err := inTx(s, func(tx *gorm.DB) error {
			if err := payment.ReserveCredit(ctx, tx, "o1", "agent-1", cny(capacity)); err != nil {
				return err
			}
			_, err := payment.CaptureCredit(ctx, tx, "o1")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		errs := race(racers, func(i int) error {
			return inTx(s, func(tx *gorm.DB) error {
				_, err := payment.RefundCredit(ctx, tx, "o1", fmt.Sprintf("o1/r%d", i), 1)
				return err
			})
		})
		ok := 0
		for i, err := range errs {
			var ex *payment.RefundExceedsError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &ex):
			default:
				t.Errorf("racer %d: %v", i, err)
			}
		}
		if want := min(racers, capacity); ok != want {
			t.Errorf("%d refunds, want %d", ok, want)
		}
		if a := account(t, s, "agent-1"); a.Available != 100 || a.Used != 0 || a.Reserved != 0 {
			t.Errorf("account = %+v", a)
		}
		if b := balance(t, s, "o1"); b.Refunded != capacity {
			t.Errorf("balance = %+v", b)
		}
	})
}
