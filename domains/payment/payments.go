package payment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/internal/dbutil"
)

// DefaultLease is how long a call owns a pending payment unless
// Payments.Lease says otherwise.
const DefaultLease = time.Minute

// Payments charges and refunds orders through a Processor and keeps the
// payments ledger (tmf_payments, tmf_payment_balances). It is safe for
// concurrent use, also by several processes on one database.
type Payments struct {
	proc  Processor
	clock func() time.Time
	// Lease is how long a call owns a pending payment: another call with the
	// same key gets *InProgressError until it runs out (or the owner gives the
	// payment back after a processor error). It must outlast the processor's
	// calls. Set it before use; zero means DefaultLease.
	Lease time.Duration
}

// NewPayments returns the service over proc; clock is the time of the
// ledger (time.Now when nil).
func NewPayments(proc Processor, clock func() time.Time) *Payments {
	if clock == nil {
		clock = time.Now
	}
	return &Payments{proc: proc, clock: clock}
}

// ChargeRequest asks to charge an order by card.
type ChargeRequest struct {
	OrderID string
	// Key is the idempotency key of the charge (at most 255 bytes, unique
	// among all payments): the same key is the same charge.
	Key      string
	Amount   int64
	Currency string
	Card     Card
}

// RefundOrderRequest asks to give back Amount of what an order was charged.
type RefundOrderRequest struct {
	OrderID string
	// Key is the idempotency key of the refund: the same key is the same refund.
	Key    string
	Amount int64
	Reason string
}

// Charge charges an order by card, once. It must NOT run inside a
// transaction: it writes the ledger in short transactions of its own and
// holds none while the processor works.
//
//  1. It inserts the pending payment under req.Key and, in the same short
//     transaction, takes the order's charge slot (Balance.ChargeID): an order
//     held by another charge is refused with *AlreadyPaidError (that charge
//     succeeded) or *InProgressError (it is pending).
//  2. It authorizes and captures req.Amount with the processor, under keys
//     derived from the payment's id, so that trying again never charges twice.
//  3. It records the outcome with a conditional update on state = 'pending':
//     succeeded (and the order's captured balance grows by the amount) or,
//     on a decline, failed with the processor's code (and the order's slot is
//     free again).
//
// A key that already has a payment answers with it: succeeded or failed as
// it is, with a nil error (check Payment.State); pending → *InProgressError
// while another call owns it, else this call takes it over and tries the
// processor again. A key used for other parameters → *KeyConflictError.
//
// The platform fires the order's payment event after a succeeded charge and
// its payment-failed event after a failed one. Other errors decided nothing:
// *InvalidRequestError and *InvalidCardError (nothing written),
// *ProcessorError or a context error (the payment stays pending: call again
// with the same key), database errors.
func (p *Payments) Charge(ctx context.Context, db *gorm.DB, req ChargeRequest) (Payment, error) {
	if err := firstErr(checkID("orderId", req.OrderID, maxOrderID), checkID("key", req.Key, maxKey),
		checkAmount(req.Amount), checkCurrency(req.Currency)); err != nil {
		return Payment{}, err
	}
	card, err := ParseCard(req.Card.Number)
	if err != nil {
		return Payment{}, err
	}
	db = db.WithContext(ctx)
	pay, err := p.startCharge(ctx, db, req, card)
	if err != nil || pay.State != StatePending {
		return pay, err
	}
	return p.runCharge(ctx, db, pay, req.Card)
}

// startCharge returns the payment of req's key: a settled one to answer
// with, or a pending one this call owns.
func (p *Payments) startCharge(ctx context.Context, db *gorm.DB, req ChargeRequest, card CardInfo) (Payment, error) {
	for range 3 {
		now := p.now()
		if _, err := dbutil.InsertOnce(db, &Balance{OrderID: req.OrderID, Currency: req.Currency, UpdatedAt: now}); err != nil {
			return Payment{}, fmt.Errorf("payment: charge order %s: balance: %w", req.OrderID, err)
		}
		pay := Payment{ID: newID("pay"), OrderID: req.OrderID, Method: MethodCard, Kind: KindCharge, IdemKey: req.Key,
			Amount: req.Amount, Currency: req.Currency, State: StatePending, CardBrand: card.Brand, CardLast4: card.Last4,
			Attempts: 1, LeaseUntil: p.leaseUntil(now), CreatedAt: now, UpdatedAt: now}
		err := runTx(ctx, db, func(tx *gorm.DB) error {
			ok, err := dbutil.InsertOnce(tx, &pay)
			if err != nil {
				return err
			}
			if !ok {
				return errKeyExists
			}
			res := tx.Exec("UPDATE tmf_payment_balances SET charge_id = ?, method = ?, updated_at = ? "+
				"WHERE order_id = ? AND charge_id = '' AND currency = ?", pay.ID, MethodCard, now, req.OrderID, req.Currency)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return errOrderHeld
			}
			return nil
		})
		switch {
		case err == nil:
			return pay, nil
		case errors.Is(err, errKeyExists):
			return p.resume(ctx, db, req.Key, func(old Payment) bool {
				return old.OrderID == req.OrderID && old.Kind == KindCharge && old.Method == MethodCard &&
					old.Amount == req.Amount && old.Currency == req.Currency && old.CardLast4 == card.Last4 && old.CardBrand == card.Brand
			})
		case errors.Is(err, errOrderHeld):
			bal, err := OrderBalance(ctx, db, req.OrderID)
			if err != nil {
				return Payment{}, err
			}
			if bal.Currency != req.Currency {
				return Payment{}, &CurrencyMismatchError{Want: bal.Currency, Got: req.Currency}
			}
			if bal.ChargeID == "" {
				continue // the holder failed meanwhile: try again
			}
			holder, err := paymentByID(db, bal.ChargeID)
			if err != nil {
				return Payment{}, fmt.Errorf("payment: charge order %s: %w", req.OrderID, err)
			}
			switch holder.State {
			case StateSucceeded:
				return Payment{}, &AlreadyPaidError{OrderID: req.OrderID, PaymentID: holder.ID}
			case StatePending:
				return Payment{}, &InProgressError{OrderID: req.OrderID, PaymentID: holder.ID, Key: holder.IdemKey}
			}
			continue
		default:
			return Payment{}, fmt.Errorf("payment: charge order %s: %w", req.OrderID, err)
		}
	}
	return Payment{}, &InProgressError{OrderID: req.OrderID}
}

// runCharge authorizes and captures the pending payment pay, which this
// call owns, and records the outcome.
func (p *Payments) runCharge(ctx context.Context, db *gorm.DB, pay Payment, card Card) (Payment, error) {
	var capture Capture
	auth, err := p.proc.Authorize(ctx, AuthorizeRequest{Key: pay.ID + "/authorize", Card: card, Amount: pay.Amount, Currency: pay.Currency})
	if err == nil {
		capture, err = p.proc.Capture(ctx, CaptureRequest{Key: pay.ID + "/capture", AuthorizationID: auth.ID, Amount: pay.Amount})
	}
	// The outcome is recorded even when the caller's context has ended.
	rctx, cancel := recordContext(ctx)
	defer cancel()
	rdb := db.WithContext(rctx)
	var decline *DeclineError
	switch {
	case err == nil:
		err = runTx(rctx, rdb, func(tx *gorm.DB) error {
			now := p.now()
			done, err := settle(tx, pay.ID, StateSucceeded, capture.ID, "", "", now)
			if err != nil || !done {
				return err
			}
			res := tx.Exec("UPDATE tmf_payment_balances SET captured = captured + ?, updated_at = ? WHERE order_id = ? AND charge_id = ?",
				pay.Amount, now, pay.OrderID, pay.ID)
			if res.Error == nil && res.RowsAffected != 1 {
				return fmt.Errorf("the balance of order %s is not held by payment %s", pay.OrderID, pay.ID)
			}
			return res.Error
		})
	case errors.As(err, &decline):
		err = runTx(rctx, rdb, func(tx *gorm.DB) error {
			now := p.now()
			done, err := settle(tx, pay.ID, StateFailed, "", decline.Code, decline.Message, now)
			if err != nil || !done {
				return err
			}
			return tx.Exec("UPDATE tmf_payment_balances SET charge_id = '', method = '', updated_at = ? WHERE order_id = ? AND charge_id = ?",
				now, pay.OrderID, pay.ID).Error
		})
	default:
		if rerr := p.release(rdb, pay.ID, err); rerr != nil {
			return Payment{}, fmt.Errorf("payment: charge %s: %w (and releasing it: %v)", pay.ID, err, rerr)
		}
		return Payment{}, fmt.Errorf("payment: charge %s of order %s: %w", pay.ID, pay.OrderID, err)
	}
	if err != nil {
		return Payment{}, fmt.Errorf("payment: charge %s: record outcome: %w", pay.ID, err)
	}
	out, err := paymentByID(rdb, pay.ID)
	if err != nil {
		return Payment{}, fmt.Errorf("payment: charge %s: %w", pay.ID, err)
	}
	return out, nil
}

// Refund gives back req.Amount of what an order's charge captured, once per
// key; several partial refunds may follow each other up to the capture. It
// must NOT run inside a transaction: like Charge, it writes the ledger in
// short transactions and holds none during the processor call.
//
// A card refund first reserves the amount on the order's balance with the
// conditional update refunded + amount <= captured (so concurrent refunds
// never exceed the capture: *RefundExceedsError otherwise), in the same
// transaction as its pending payment; then it asks the processor; a decline
// fails the refund and gives the amount back. An order paid with agent
// credit is refunded to the agent's credit (RefundCredit) in one
// transaction.
//
// Answers as Charge: the key's payment as it is (succeeded or failed, nil
// error), *InProgressError, *KeyConflictError, *InvalidRequestError,
// *ProcessorError or a context error (the refund stays pending with its
// amount reserved: call again with the same key), database errors.
func (p *Payments) Refund(ctx context.Context, db *gorm.DB, req RefundOrderRequest) (Payment, error) {
	if err := firstErr(checkID("orderId", req.OrderID, maxOrderID), checkID("key", req.Key, maxKey),
		checkAmount(req.Amount), checkText("reason", req.Reason)); err != nil {
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
	pay, err := p.startRefund(ctx, db, req, bal)
	if err != nil || pay.State != StatePending {
		return pay, err
	}
	return p.runRefund(ctx, db, pay)
}

// startRefund returns the payment of req's key: a settled one to answer
// with, or a pending one this call owns, its amount reserved.
func (p *Payments) startRefund(ctx context.Context, db *gorm.DB, req RefundOrderRequest, bal Balance) (Payment, error) {
	now := p.now()
	currency := bal.Currency
	if currency == "" {
		currency = "XXX" // never paid: the reservation below refuses it
	}
	pay := Payment{ID: newID("pay"), OrderID: req.OrderID, Method: MethodCard, Kind: KindRefund, IdemKey: req.Key,
		Amount: req.Amount, Currency: currency, State: StatePending, Reason: req.Reason,
		Attempts: 1, LeaseUntil: p.leaseUntil(now), CreatedAt: now, UpdatedAt: now}
	err := runTx(ctx, db, func(tx *gorm.DB) error {
		ok, err := dbutil.InsertOnce(tx, &pay)
		if err != nil {
			return err
		}
		if !ok {
			return errKeyExists
		}
		res := tx.Exec("UPDATE tmf_payment_balances SET refunded = refunded + ?, updated_at = ? "+
			"WHERE order_id = ? AND method = ? AND refunded + ? <= captured", req.Amount, now, req.OrderID, MethodCard, req.Amount)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return errExceeds
		}
		return nil
	})
	switch {
	case err == nil:
		return pay, nil
	case errors.Is(err, errKeyExists):
		return p.resume(ctx, db, req.Key, func(old Payment) bool {
			return old.OrderID == req.OrderID && old.Kind == KindRefund && old.Amount == req.Amount
		})
	case errors.Is(err, errExceeds):
		bal, err := OrderBalance(ctx, db, req.OrderID)
		if err != nil {
			return Payment{}, err
		}
		return Payment{}, &RefundExceedsError{OrderID: req.OrderID, Requested: req.Amount, Refundable: max(bal.Refundable(), 0)}
	}
	return Payment{}, fmt.Errorf("payment: refund order %s: %w", req.OrderID, err)
}

// runRefund asks the processor to refund the pending refund pay, which this
// call owns, and records the outcome.
func (p *Payments) runRefund(ctx context.Context, db *gorm.DB, pay Payment) (Payment, error) {
	bal, err := OrderBalance(ctx, db, pay.OrderID)
	if err != nil {
		return Payment{}, err
	}
	charge, err := paymentByID(db, bal.ChargeID)
	if err != nil {
		return Payment{}, fmt.Errorf("payment: refund %s: the charge of order %s: %w", pay.ID, pay.OrderID, err)
	}
	refund, err := p.proc.Refund(ctx, RefundRequest{Key: pay.ID + "/refund", CaptureID: charge.ProcessorRef, Amount: pay.Amount})
	rctx, cancel := recordContext(ctx)
	defer cancel()
	rdb := db.WithContext(rctx)
	var decline *DeclineError
	switch {
	case err == nil:
		err = runTx(rctx, rdb, func(tx *gorm.DB) error {
			_, err := settle(tx, pay.ID, StateSucceeded, refund.ID, "", "", p.now())
			return err
		})
	case errors.As(err, &decline):
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
			return res.Error
		})
	default:
		if rerr := p.release(rdb, pay.ID, err); rerr != nil {
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

// Payments returns the payments of an order, oldest first. It needs no
// transaction.
func (p *Payments) Payments(ctx context.Context, db *gorm.DB, orderID string) ([]Payment, error) {
	var out []Payment
	if err := db.WithContext(ctx).Where("order_id = ?", orderID).Order("created_at").Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("payment: payments of order %s: %w", orderID, err)
	}
	for i := range out {
		stampPayment(&out[i])
	}
	return out, nil
}

// OrderBalance returns the balance of an order: zero amounts (and no
// currency) when it was never charged. It needs no transaction.
func OrderBalance(ctx context.Context, db *gorm.DB, orderID string) (Balance, error) {
	var out Balance
	err := db.WithContext(ctx).Where("order_id = ?", orderID).Take(&out).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Balance{OrderID: orderID}, nil
	}
	if err != nil {
		return Balance{}, fmt.Errorf("payment: balance of order %s: %w", orderID, err)
	}
	out.UpdatedAt = dbutil.Stamp(out.UpdatedAt)
	return out, nil
}

// resume answers a request whose key already has a payment: the payment
// when settled, *KeyConflictError when same does not accept it, the pending
// payment when this call takes its lease, else *InProgressError.
func (p *Payments) resume(ctx context.Context, db *gorm.DB, key string, same func(Payment) bool) (Payment, error) {
	var old Payment
	if err := db.Where("idem_key = ?", key).Take(&old).Error; err != nil {
		return Payment{}, fmt.Errorf("payment: payment of key %q: %w", key, err)
	}
	stampPayment(&old)
	if !same(old) {
		return Payment{}, &KeyConflictError{Key: key, PaymentID: old.ID}
	}
	if old.State != StatePending {
		return old, nil
	}
	now := p.now()
	res := db.Exec("UPDATE tmf_payments SET lease_until = ?, attempts = attempts + 1, updated_at = ? "+
		"WHERE id = ? AND state = ? AND lease_until <= ?", p.leaseUntil(now), now, old.ID, StatePending, now.UnixMicro())
	if res.Error != nil {
		return Payment{}, fmt.Errorf("payment: take over payment %s: %w", old.ID, res.Error)
	}
	if res.RowsAffected == 1 {
		return paymentByID(db, old.ID)
	}
	cur, err := paymentByID(db, old.ID)
	if err != nil {
		return Payment{}, err
	}
	if cur.State != StatePending {
		return cur, nil
	}
	return Payment{}, &InProgressError{OrderID: cur.OrderID, PaymentID: cur.ID, Key: key}
}

// release gives a pending payment back after a processor error, so that the
// next call with its key takes it over at once, and notes the error.
func (p *Payments) release(db *gorm.DB, id string, cause error) error {
	code := "processor_error"
	var pe *ProcessorError
	if errors.As(cause, &pe) {
		code = pe.Code
	}
	now := p.now()
	return db.Exec("UPDATE tmf_payments SET lease_until = ?, failure_code = ?, failure_message = ?, updated_at = ? "+
		"WHERE id = ? AND state = ?", now.UnixMicro(), truncate(code, 64), truncate(cause.Error(), maxText), now, id, StatePending).Error
}

// settle moves a pending payment to its final state; false when it was no
// longer pending (another call settled it).
func settle(tx *gorm.DB, id, state, ref, code, msg string, now time.Time) (bool, error) {
	res := tx.Exec("UPDATE tmf_payments SET state = ?, processor_ref = ?, failure_code = ?, failure_message = ?, "+
		"lease_until = 0, updated_at = ? WHERE id = ? AND state = ?",
		state, truncate(ref, maxText), truncate(code, 64), truncate(msg, maxText), now, id, StatePending)
	return res.RowsAffected == 1, res.Error
}

func paymentByID(db *gorm.DB, id string) (Payment, error) {
	var out Payment
	if err := db.Where("id = ?", id).Take(&out).Error; err != nil {
		return Payment{}, fmt.Errorf("payment %s: %w", id, err)
	}
	stampPayment(&out)
	return out, nil
}

func stampPayment(p *Payment) {
	p.CreatedAt, p.UpdatedAt = dbutil.Stamp(p.CreatedAt), dbutil.Stamp(p.UpdatedAt)
}

func (p *Payments) now() time.Time { return dbutil.Stamp(p.clock()) }

func (p *Payments) leaseUntil(now time.Time) int64 {
	lease := p.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	return now.Add(lease).UnixMicro()
}

// recordContext is the context that records a processor's outcome: it
// keeps ctx's values but not its end, so that an outcome is not lost
// because the caller stopped waiting.
func recordContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// Sentinels that roll a short transaction back and say why.
var (
	errKeyExists = errors.New("key exists")
	errOrderHeld = errors.New("order held by another charge")
	errExceeds   = errors.New("refund exceeds the refundable")
)

// maxTxAttempts bounds how often runTx runs a transaction the database
// aborted to break a deadlock: many charges racing on one key or one order
// make MySQL's duplicate-key locks deadlock often, and each try is short.
const maxTxAttempts = 8

// runTx runs fn in one of the domain's own short transactions, again when
// the database aborted it to break a deadlock.
func runTx(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	return dbutil.RunTx(ctx, db, maxTxAttempts, fn)
}

// newID returns prefix_ and 24 random hex digits.
func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func checkID(field, v string, max int) error {
	switch {
	case v == "":
		return &InvalidRequestError{Field: field, Reason: "empty"}
	case len(v) > max:
		return &InvalidRequestError{Field: field, Reason: fmt.Sprintf("longer than %d bytes", max)}
	}
	return nil
}

func checkText(field, v string) error {
	if len(v) > maxText {
		return &InvalidRequestError{Field: field, Reason: fmt.Sprintf("longer than %d bytes", maxText)}
	}
	return nil
}

func checkAmount(a int64) error {
	if a <= 0 {
		return &InvalidRequestError{Field: "amount", Reason: fmt.Sprintf("%d is not positive", a)}
	}
	return nil
}

func checkCurrency(c string) error {
	if !validCurrency(c) {
		return &InvalidRequestError{Field: "currency", Reason: fmt.Sprintf("%q is not three upper-case letters", c)}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
