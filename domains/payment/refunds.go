package payment

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/internal/dbutil"
)

// Refund gives back req.Amount of what an order's charge captured, once per
// key, and asks the processor at once; several partial refunds may follow
// each other up to the capture. It must NOT run inside a transaction: like
// Charge, it writes the ledger in short transactions and holds none during
// the processor call.
//
// A card refund first reserves the amount on the order's balance with the
// conditional update refunded + amount <= captured (so concurrent refunds
// never exceed the capture: *RefundExceedsError otherwise), in the same
// transaction as its pending payment; then it asks the processor. A
// decline fails the refund for good and gives the amount back (an operator
// sees it and may retry it: RetryRefund). An order paid with agent credit
// is refunded to the agent's credit (RefundCredit) in one transaction.
//
// Answers as Charge: the key's payment as it is (succeeded or failed, nil
// error), *InProgressError, *KeyConflictError, *InvalidRequestError,
// *ProcessorError or a context error (the refund stays pending with its
// amount reserved, and recovery pays it with backoff), database errors.
func (p *Payments) Refund(ctx context.Context, db *gorm.DB, req RefundOrderRequest) (Payment, error) {
	if err := checkRefund(req); err != nil {
		return Payment{}, err
	}
	db = db.WithContext(ctx)
	bal, err := OrderBalance(ctx, db, req.OrderID)
	if err != nil {
		return Payment{}, err
	}
	if bal.Method == MethodAgentCredit {
		var out Payment
		err := runTx(ctx, db, func(tx *gorm.DB) error {
			var err error
			out, err = RefundCredit(ctx, tx, req.OrderID, req.Key, req.Amount)
			return err
		})
		return out, err
	}
	var pay Payment
	var fresh bool
	err = runTx(ctx, db, func(tx *gorm.DB) error {
		var err error
		pay, fresh, err = p.owe(tx, req, false, true)
		return err
	})
	var exceeds *RefundExceedsError
	if errors.As(err, &exceeds) {
		// Say what is left now, not what was read before the refusal.
		if bal, berr := OrderBalance(ctx, db, req.OrderID); berr == nil {
			exceeds.Refundable = max(bal.Refundable(), 0)
		}
	}
	if err != nil {
		return Payment{}, err
	}
	if !fresh {
		pay, err = p.resume(ctx, db, req.Key, func(old Payment) bool {
			return old.OrderID == req.OrderID && old.Kind == KindRefund && old.Amount == req.Amount
		})
		if err != nil || pay.State != StatePending {
			return pay, err
		}
	}
	return p.runRefund(ctx, db, pay)
}

// OweRefund records, inside the caller's transaction (the one that decided
// the refund: a cancellation, a return, a charge its order could not
// take), a card refund the order owes: a pending refund under req.Key with
// its amount reserved on the balance, which recovery (Recover) pays with
// backoff until the processor answers for good. A refund larger than what
// is left to refund owes what is left; nothing left owes nothing (ok
// false, e.g. an order never charged). The same key again changes
// nothing. The order must be paid by card (agent credit: RefundCredit).
func (p *Payments) OweRefund(ctx context.Context, tx *gorm.DB, req RefundOrderRequest) (Payment, bool, error) {
	if err := checkRefund(req); err != nil {
		return Payment{}, false, err
	}
	pay, fresh, err := p.owe(tx.WithContext(ctx), req, true, false)
	if err != nil || !fresh {
		return pay, err == nil && pay.ID != "", err
	}
	return pay, true, nil
}

// owe inserts the pending refund of req and reserves its amount (fresh
// true), or finds the key's refund (fresh false). With clamp, an amount
// above what is left owes what is left, and nothing left inserts nothing.
// With lease, the caller owns the new refund for a lease (it calls the
// processor itself); without, recovery pays it.
func (p *Payments) owe(tx *gorm.DB, req RefundOrderRequest, clamp, lease bool) (Payment, bool, error) {
	if old, err := paymentByKey(tx, req.Key); err == nil {
		if old.OrderID != req.OrderID || old.Kind != KindRefund {
			return Payment{}, false, &KeyConflictError{Key: req.Key, PaymentID: old.ID}
		}
		return old, false, nil
	} else if !errors.Is(err, gorm.ErrRecordNotFound) {
		return Payment{}, false, err
	}
	bal, err := OrderBalance(context.Background(), tx, req.OrderID)
	if err != nil {
		return Payment{}, false, err
	}
	amount := req.Amount
	if clamp {
		amount = min(amount, bal.Refundable())
		if amount <= 0 {
			return Payment{}, false, nil
		}
	}
	chargeID := req.ChargeID
	if chargeID == "" {
		chargeID = bal.ChargeID
	}
	now := p.now()
	currency := bal.Currency
	if currency == "" {
		currency = "XXX" // never paid: the reservation below refuses it
	}
	pay := Payment{ID: newID("pay"), OrderID: req.OrderID, Method: MethodCard, Kind: KindRefund, IdemKey: req.Key,
		Amount: amount, Currency: currency, State: StatePending, Reason: truncate(req.Reason, maxText), ChargeID: chargeID,
		NextAttempt: now.UnixMicro(), CreatedAt: now, UpdatedAt: now}
	if lease {
		pay.Attempts, pay.LeaseUntil, pay.NextAttempt = 1, p.leaseUntil(now), p.leaseUntil(now)
	}
	ok, err := dbutil.InsertOnce(tx, &pay)
	if err != nil {
		return Payment{}, false, fmt.Errorf("payment: refund order %s: %w", req.OrderID, err)
	}
	if !ok {
		return Payment{}, false, &InProgressError{OrderID: req.OrderID, Key: req.Key} // a concurrent insert won: ask again
	}
	res := tx.Exec("UPDATE tmf_payment_balances SET refunded = refunded + ?, updated_at = ? "+
		"WHERE order_id = ? AND method = ? AND refunded + ? <= captured", amount, now, req.OrderID, MethodCard, amount)
	if res.Error != nil {
		return Payment{}, false, fmt.Errorf("payment: refund order %s: %w", req.OrderID, res.Error)
	}
	if res.RowsAffected != 1 {
		return Payment{}, false, &RefundExceedsError{OrderID: req.OrderID, Requested: amount, Refundable: max(bal.Refundable(), 0)}
	}
	return pay, true, nil
}

// runRefund asks the processor to refund the pending refund pay, which
// this call owns (or which nobody holds yet: an owed refund), and records
// the outcome: succeeded; failed for good on a decline (its amount given
// back to the balance, OnRefundFailed called); pending after a transient
// failure, for recovery to try again after a backoff.
func (p *Payments) runRefund(ctx context.Context, db *gorm.DB, pay Payment) (Payment, error) {
	chargeID := pay.ChargeID
	if chargeID == "" {
		bal, err := OrderBalance(ctx, db, pay.OrderID)
		if err != nil {
			return Payment{}, err
		}
		chargeID = bal.ChargeID
	}
	charge, err := paymentByID(db, chargeID)
	if err != nil {
		return Payment{}, fmt.Errorf("payment: refund %s: the charge of order %s: %w", pay.ID, pay.OrderID, err)
	}
	refund, err := p.refund(ctx, RefundRequest{Key: pay.ID + "/refund", CaptureID: charge.ProcessorRef, Amount: pay.Amount})
	rctx, cancel := recordContext(ctx)
	defer cancel()
	rdb := db.WithContext(rctx)
	var decline *DeclineError
	switch {
	case err == nil:
		err = runTx(rctx, rdb, func(tx *gorm.DB) error {
			done, err := settle(tx, pay.ID, StateSucceeded, refund.ID, "", "", p.now())
			if err != nil || !done {
				return err
			}
			return p.settled(rctx, tx, pay, StateSucceeded, refund.ID, "", "")
		})
	case errors.As(err, &decline):
		failed := false
		err = runTx(rctx, rdb, func(tx *gorm.DB) error {
			now := p.now()
			done, err := settle(tx, pay.ID, StateFailed, "", decline.Code, decline.Message, now)
			if err != nil || !done {
				return err
			}
			res := tx.Exec("UPDATE tmf_payment_balances SET refunded = refunded - ?, updated_at = ? WHERE order_id = ? AND refunded >= ?",
				pay.Amount, now, pay.OrderID, pay.Amount)
			if res.Error == nil && res.RowsAffected != 1 {
				return fmt.Errorf("the balance of order %s has less than %d refunded", pay.OrderID, pay.Amount)
			}
			if res.Error != nil {
				return res.Error
			}
			failed = true
			return p.settled(rctx, tx, pay, StateFailed, "", decline.Code, decline.Message)
		})
		if err == nil && failed && p.OnRefundFailed != nil {
			p.OnRefundFailed(pay)
		}
	default:
		if rerr := p.release(rdb, pay.ID, err, p.backoff(pay.Attempts)); rerr != nil {
			return Payment{}, fmt.Errorf("payment: refund %s: %w (and releasing it: %v)", pay.ID, err, rerr)
		}
		return Payment{}, fmt.Errorf("payment: refund %s of order %s: %w", pay.ID, pay.OrderID, err)
	}
	if err != nil {
		return Payment{}, fmt.Errorf("payment: refund %s: record outcome: %w", pay.ID, err)
	}
	out, err := paymentByID(rdb, pay.ID)
	if err != nil {
		return Payment{}, fmt.Errorf("payment: refund %s: %w", pay.ID, err)
	}
	return out, nil
}

// RetryRefund pays again a refund the processor refused for good: a new
// pending refund of the same charge and amount (key OLDKEY/retry/N), owed
// at once and paid by recovery, and the failed one marked as retried by
// it. Retrying a refund already retried answers the retry; one that did
// not fail is a *RefundStateError.
func (p *Payments) RetryRefund(ctx context.Context, db *gorm.DB, id string) (Payment, error) {
	db = db.WithContext(ctx)
	var out Payment
	err := runTx(ctx, db, func(tx *gorm.DB) error {
		old, err := paymentByID(tx, id)
		if err != nil {
			return err
		}
		if old.Kind != KindRefund || old.State != StateFailed || old.Method != MethodCard {
			return &RefundStateError{PaymentID: id, Kind: old.Kind, State: old.State}
		}
		if old.RetriedBy != "" {
			out, err = paymentByID(tx, old.RetriedBy)
			return err
		}
		n := 1
		for {
			if _, err := paymentByKey(tx, old.IdemKey+"/retry/"+strconv.Itoa(n)); err != nil {
				break
			}
			n++
		}
		pay, fresh, err := p.owe(tx, RefundOrderRequest{OrderID: old.OrderID, Key: old.IdemKey + "/retry/" + strconv.Itoa(n),
			Amount: old.Amount, Reason: old.Reason, ChargeID: old.ChargeID}, false, false)
		if err != nil {
			return err
		}
		if !fresh {
			return &InProgressError{OrderID: old.OrderID, PaymentID: pay.ID, Key: pay.IdemKey}
		}
		res := tx.Exec("UPDATE tmf_payments SET retried_by = ?, updated_at = ? WHERE id = ? AND retried_by = ''", pay.ID, p.now(), id)
		if res.Error != nil {
			return res.Error
		}
		out = pay
		return nil
	})
	return out, err
}

// FailedRefunds lists, oldest first, the card refunds the processor
// refused for good that no retry replaced: what an operator must look at.
// At most limit (100 when 0), after the payment id after (keyset paging).
func (p *Payments) FailedRefunds(ctx context.Context, db *gorm.DB, after string, limit int) ([]Payment, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []Payment
	q := db.WithContext(ctx).Where("kind = ? AND state = ? AND retried_by = ''", KindRefund, StateFailed)
	if after != "" {
		q = q.Where("id > ?", after)
	}
	if err := q.Order("id").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("payment: failed refunds: %w", err)
	}
	for i := range out {
		stampPayment(&out[i])
	}
	return out, nil
}

func checkRefund(req RefundOrderRequest) error {
	return firstErr(checkID("orderId", req.OrderID, maxOrderID), checkID("key", req.Key, maxKey),
		checkAmount(req.Amount), checkText("reason", req.Reason))
}
