package payment

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// FailureAbandoned is the failure code of a charge that recovery gave up:
// its caller went away and the processor never captured it (an
// authorization it made was voided). Nothing was charged.
const FailureAbandoned = "abandoned"

// RecoverStats says what one Recover pass did.
type RecoverStats struct {
	// Taken counts the pending payments this pass worked on.
	Taken int
	// Settled counts those that reached a final state (or, for a charge,
	// were handed to the settler).
	Settled int
	// Retrying counts those left pending after a transient failure, to be
	// tried again after a backoff.
	Retrying int
}

// Recover settles up to limit pending payments that nobody works on
// (their lease ran out) and that are due (their next attempt has come): the
// payment flow's durable recovery, safe to run in every process at once
// (each payment is taken with a conditional update of its lease).
//
//   - A refund is paid: the processor call is made again under the
//     refund's own key, so a refund the processor already did is replayed,
//     not repeated. A transient failure backs off exponentially; a decline
//     fails it for good (FailedRefunds lists it).
//   - A charge is settled by asking the processor what became of its keys
//     (Lookup): a capture is handed to settle, which completes the order's
//     transition or, when the order can no longer take it, refunds it; a
//     decline fails the charge; an authorization without a capture is
//     voided and the charge fails as FailureAbandoned; nothing done at the
//     processor fails it as FailureAbandoned. The order's slot is freed
//     whenever the charge fails.
func (p *Payments) Recover(ctx context.Context, db *gorm.DB, limit int, settle Settler) (RecoverStats, error) {
	if limit <= 0 {
		limit = 100
	}
	db = db.WithContext(ctx)
	now := p.now().UnixMicro()
	var due []Payment
	if err := db.Where("state = ? AND next_attempt <= ? AND lease_until <= ?", StatePending, now, now).
		Order("next_attempt").Limit(limit).Find(&due).Error; err != nil {
		return RecoverStats{}, fmt.Errorf("payment: recover: %w", err)
	}
	var st RecoverStats
	for _, pay := range due {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		taken, err := p.recoverOne(ctx, db, pay.ID, settle)
		if !taken {
			continue
		}
		st.Taken++
		if err != nil {
			st.Retrying++
			continue
		}
		st.Settled++
	}
	return st, nil
}

// RecoverOrder settles now the pending charges of an order that are due
// (the payment timeout asks before it cancels the order), and reports how
// many pending charges remain: those a live call still holds, those whose
// caller may still retry them (RetryAfter) or whose settling failed for
// now and waits for its backoff.
func (p *Payments) RecoverOrder(ctx context.Context, db *gorm.DB, orderID string, settle Settler) (int, error) {
	db = db.WithContext(ctx)
	var pending []Payment
	if err := db.Where("order_id = ? AND kind = ? AND state = ?", orderID, KindCharge, StatePending).Find(&pending).Error; err != nil {
		return 0, fmt.Errorf("payment: recover order %s: %w", orderID, err)
	}
	left := 0
	now := p.now().UnixMicro()
	for _, pay := range pending {
		if pay.NextAttempt > now {
			left++
			continue
		}
		if _, err := p.recoverOne(ctx, db, pay.ID, settle); err != nil {
			left++
			continue
		}
		cur, err := paymentByID(db, pay.ID)
		if err != nil {
			return 0, err
		}
		if cur.State == StatePending {
			left++
		}
	}
	return left, nil
}

// recoverOne takes the lease of a pending payment whose lease ran out
// (taken false when it is not, or another process took it first) and
// settles it.
func (p *Payments) recoverOne(ctx context.Context, db *gorm.DB, id string, settle Settler) (bool, error) {
	now := p.now()
	res := db.Exec("UPDATE tmf_payments SET lease_until = ?, next_attempt = ?, attempts = attempts + 1, updated_at = ? "+
		"WHERE id = ? AND state = ? AND lease_until <= ?", p.leaseUntil(now), p.leaseUntil(now), now, id, StatePending, now.UnixMicro())
	if res.Error != nil {
		return false, fmt.Errorf("payment: recover %s: %w", id, res.Error)
	}
	if res.RowsAffected != 1 {
		return false, nil
	}
	pay, err := paymentByID(db, id)
	if err != nil {
		return true, err
	}
	if pay.Kind == KindRefund {
		_, err := p.runRefund(ctx, db, pay)
		return true, err
	}
	return true, p.recoverCharge(ctx, db, pay, settle)
}

// recoverCharge settles a pending charge this call owns from what the
// processor knows of its keys.
func (p *Payments) recoverCharge(ctx context.Context, db *gorm.DB, pay Payment, settle Settler) error {
	later := func(err error) error {
		if rerr := p.release(db, pay.ID, err, p.backoff(pay.Attempts)); rerr != nil {
			return fmt.Errorf("payment: recover %s: %w (and releasing it: %v)", pay.ID, err, rerr)
		}
		return fmt.Errorf("payment: recover %s: %w", pay.ID, err)
	}
	inProgress := &ProcessorError{Code: "request_in_progress", Message: "the processor is still working on the attempt"}
	for range 2 {
		c, err := p.lookup(ctx, OpCapture, pay.ID+"/capture")
		switch {
		case err != nil:
			return later(err)
		case c.InProgress:
			return later(inProgress)
		case c.Found && c.Decline == nil:
			if err := p.settleCaptured(ctx, db, Captured{Payment: pay, CaptureID: c.ID}, settle); err != nil {
				return later(err)
			}
			return nil
		}
		a, err := p.lookup(ctx, OpAuthorize, pay.ID+"/authorize")
		switch {
		case err != nil:
			return later(err)
		case a.InProgress:
			return later(inProgress)
		case a.Found && a.Decline != nil:
			return p.failCharge(ctx, db, pay, a.Decline.Code, a.Decline.Message)
		case !a.Found:
			return p.failCharge(ctx, db, pay, FailureAbandoned, "the attempt was abandoned before the processor acted on it; nothing was charged")
		}
		// Authorized: let the hold go unless the capture got there first.
		_, err = p.void(ctx, VoidRequest{Key: pay.ID + "/void", AuthorizationID: a.ID})
		var d *DeclineError
		switch {
		case err == nil, errors.As(err, &d) && d.Code == "already_voided":
			if c.Found { // the capture had been declined
				return p.failCharge(ctx, db, pay, c.Decline.Code, c.Decline.Message)
			}
			return p.failCharge(ctx, db, pay, FailureAbandoned, "the attempt was abandoned before its capture; its authorization was voided")
		case errors.As(err, &d) && d.Code == "already_captured":
			continue // a capture landed meanwhile: settle it
		default:
			return later(err)
		}
	}
	return later(inProgress)
}
