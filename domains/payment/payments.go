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

// Defaults of Payments' settings.
const (
	// DefaultLease is how long a call owns a pending payment.
	DefaultLease = time.Minute
	// DefaultCallTimeout bounds one processor call.
	DefaultCallTimeout = 10 * time.Second
	// DefaultRetryAfter is how long a charge left pending by a processor
	// error waits for its caller to try again with the same key before
	// recovery settles it.
	DefaultRetryAfter = 30 * time.Second
	// DefaultBackoff and DefaultMaxBackoff shape recovery's exponential
	// backoff after transient failures: base × 2^(attempt−1), at most max.
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = time.Hour
)

// Payments charges and refunds orders through a Processor and keeps the
// payments ledger (tmf_payments, tmf_payment_balances). It is safe for
// concurrent use, also by several processes on one database. Set its
// fields before use; zero values take the defaults above.
type Payments struct {
	proc  Processor
	clock func() time.Time
	// Lease is how long a call owns a pending payment: another call with the
	// same key gets *InProgressError until it runs out (or the owner gives the
	// payment back after a processor error), and recovery leaves it alone
	// until then. It must outlast the processor calls of one attempt
	// (three CallTimeouts).
	Lease time.Duration
	// CallTimeout bounds every processor call, whatever the caller's
	// context allows.
	CallTimeout time.Duration
	// RetryAfter is how long a charge left pending by a processor error
	// waits for its caller's retry before recovery settles it.
	RetryAfter time.Duration
	// Backoff and MaxBackoff shape the retries of recovery.
	Backoff, MaxBackoff time.Duration
	// OnRefundFailed, when set, is called once for every refund the
	// processor refused for good (a metric counts them).
	OnRefundFailed func(Payment)
	// OnSettled, when set, runs inside the transaction that settles a
	// payment for good — a charge that failed (declined or abandoned), a
	// refund that succeeded or failed — with the payment as it now is, so
	// that what follows from it (an outbox event) commits with it; its
	// error rolls the settling back. A captured charge is recorded by the
	// caller's Settler, which has its own transaction.
	OnSettled func(ctx context.Context, tx *gorm.DB, pay Payment) error
}

// settled runs OnSettled for pay, now in state with code and msg.
func (p *Payments) settled(ctx context.Context, tx *gorm.DB, pay Payment, state, ref, code, msg string) error {
	if p.OnSettled == nil {
		return nil
	}
	pay.State, pay.ProcessorRef, pay.FailureCode, pay.FailureMessage = state, ref, code, msg
	return p.OnSettled(ctx, tx, pay)
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
	// ChargeID is the charge to refund; empty refunds the charge that
	// holds the order.
	ChargeID string
}

// Captured is a charge whose capture the processor confirmed and that is
// still to be recorded: Payment is the pending (or abandoned) charge,
// CaptureID the processor's capture.
type Captured struct {
	Payment   Payment
	CaptureID string
}

// Settler records a captured charge together with what it pays for, in
// ONE transaction: RecordCapture and the order's transition (or, when the
// order can no longer be paid, RecordCapture and OweRefund of the charge).
// An error leaves the charge pending: the same key, or recovery, settles
// it later. Charge and Recover call it; nil records the capture alone.
type Settler func(ctx context.Context, c Captured) error

// Charge charges an order by card, once. It must NOT run inside a
// transaction: it writes the ledger in short transactions of its own and
// holds none while the processor works.
//
//  1. It inserts the pending payment under req.Key and, in the same short
//     transaction, takes the order's charge slot (Balance.ChargeID): an order
//     held by another charge is refused with *AlreadyPaidError (that charge
//     succeeded) or *InProgressError (it is pending). The attempt is thus
//     recorded, with the keys the processor will receive, before the
//     processor is called.
//  2. It authorizes and captures req.Amount with the processor, under keys
//     derived from the payment's id (ID/authorize, ID/capture), each call
//     bounded by CallTimeout, so that trying again never charges twice.
//  3. A capture is handed to settle, which records it and the order's
//     transition together. A decline fails the payment with the
//     processor's code (the order's slot is free again, an authorization
//     whose capture was declined is voided).
//
// A key that already has a payment answers with it: succeeded or failed as
// it is, with a nil error (check Payment.State); pending → *InProgressError
// while another call owns it, else this call takes it over and asks the
// processor again (which replays what it did). A key used for other
// parameters → *KeyConflictError.
//
// Other errors decided nothing: *InvalidRequestError and *InvalidCardError
// (nothing written), *ProcessorError or a context error (the payment stays
// pending: call again with the same key, or recovery settles it after
// RetryAfter), database errors and settle's errors (the payment stays
// pending likewise).
func (p *Payments) Charge(ctx context.Context, db *gorm.DB, req ChargeRequest, settle Settler) (Payment, error) {
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
	return p.runCharge(ctx, db, pay, req.Card, settle)
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
			Attempts: 1, LeaseUntil: p.leaseUntil(now), NextAttempt: p.leaseUntil(now), CreatedAt: now, UpdatedAt: now}
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
// call owns, and settles the outcome.
func (p *Payments) runCharge(ctx context.Context, db *gorm.DB, pay Payment, card Card, settle Settler) (Payment, error) {
	var capture Capture
	auth, err := p.authorize(ctx, AuthorizeRequest{Key: pay.ID + "/authorize", Card: card, Amount: pay.Amount, Currency: pay.Currency})
	if err == nil {
		capture, err = p.capture(ctx, CaptureRequest{Key: pay.ID + "/capture", AuthorizationID: auth.ID, Amount: pay.Amount})
	}
	// The outcome is recorded even when the caller's context has ended.
	rctx, cancel := recordContext(ctx)
	defer cancel()
	rdb := db.WithContext(rctx)
	var decline *DeclineError
	switch {
	case err == nil:
		err = p.settleCaptured(rctx, rdb, Captured{Payment: pay, CaptureID: capture.ID}, settle)
	case errors.As(err, &decline):
		if auth.ID != "" {
			// The capture was declined: let the hold go (best effort; the
			// acquirer drops it in time anyway).
			_, _ = p.void(rctx, VoidRequest{Key: pay.ID + "/void", AuthorizationID: auth.ID})
		}
		err = p.failCharge(rctx, rdb, pay, decline.Code, decline.Message)
	}
	if err != nil {
		retry := p.retryAfter()
		if rerr := p.release(rdb, pay.ID, err, retry); rerr != nil {
			return Payment{}, fmt.Errorf("payment: charge %s: %w (and releasing it: %v)", pay.ID, err, rerr)
		}
		return Payment{}, fmt.Errorf("payment: charge %s of order %s: %w", pay.ID, pay.OrderID, err)
	}
	out, err := paymentByID(rdb, pay.ID)
	if err != nil {
		return Payment{}, fmt.Errorf("payment: charge %s: %w", pay.ID, err)
	}
	return out, nil
}

// settleCaptured hands a capture to settle, or records it alone.
func (p *Payments) settleCaptured(ctx context.Context, db *gorm.DB, c Captured, settle Settler) error {
	if settle != nil {
		return settle(ctx, c)
	}
	return runTx(ctx, db, func(tx *gorm.DB) error {
		_, _, err := RecordCapture(ctx, tx, c)
		return err
	})
}

// failCharge fails a pending (or recovering) charge for good and frees the
// order's slot.
func (p *Payments) failCharge(ctx context.Context, db *gorm.DB, pay Payment, code, msg string) error {
	return runTx(ctx, db, func(tx *gorm.DB) error {
		now := p.now()
		done, err := settle(tx, pay.ID, StateFailed, "", code, msg, now)
		if err != nil || !done {
			return err
		}
		if err := tx.Exec("UPDATE tmf_payment_balances SET charge_id = '', method = '', updated_at = ? WHERE order_id = ? AND charge_id = ?",
			now, pay.OrderID, pay.ID).Error; err != nil {
			return err
		}
		return p.settled(ctx, tx, pay, StateFailed, "", code, msg)
	})
}

// RecordCapture records, inside the caller's transaction, that the charge
// c.Payment was captured (c.CaptureID): the payment succeeds (from pending,
// or from failed when recovery had given it up while its capture was on
// the way) and the order's captured balance grows by its amount. It
// reports whether the charge holds the order (its slot was this charge's
// or free): a charge that does not hold it is a second capture of the
// order, which the caller must refund (OweRefund with its ChargeID); and
// whether this call recorded it (fresh): recording the same capture again
// changes nothing and reports fresh false.
func RecordCapture(ctx context.Context, tx *gorm.DB, c Captured) (held, fresh bool, err error) {
	tx = tx.WithContext(ctx)
	pay := c.Payment
	now := dbutil.Stamp(time.Now())
	res := tx.Exec("UPDATE tmf_payments SET state = ?, processor_ref = ?, failure_code = '', failure_message = '', "+
		"lease_until = 0, next_attempt = 0, updated_at = ? WHERE id = ? AND state <> ?",
		StateSucceeded, truncate(c.CaptureID, maxText), now, pay.ID, StateSucceeded)
	if res.Error != nil {
		return false, false, fmt.Errorf("payment: record capture of %s: %w", pay.ID, res.Error)
	}
	if res.RowsAffected == 0 {
		bal, err := OrderBalance(ctx, tx, pay.OrderID)
		return err == nil && bal.ChargeID == pay.ID, false, err
	}
	res = tx.Exec("UPDATE tmf_payment_balances SET captured = captured + ?, charge_id = ?, method = ?, updated_at = ? "+
		"WHERE order_id = ? AND (charge_id = ? OR charge_id = '')", pay.Amount, pay.ID, MethodCard, now, pay.OrderID, pay.ID)
	if res.Error != nil {
		return false, false, fmt.Errorf("payment: record capture of %s: %w", pay.ID, res.Error)
	}
	if res.RowsAffected == 1 {
		return true, true, nil
	}
	res = tx.Exec("UPDATE tmf_payment_balances SET captured = captured + ?, updated_at = ? WHERE order_id = ?", pay.Amount, now, pay.OrderID)
	if res.Error == nil && res.RowsAffected != 1 {
		return false, false, fmt.Errorf("payment: record capture of %s: order %s has no balance", pay.ID, pay.OrderID)
	}
	return false, true, res.Error
}

// ReleaseCharge frees the order's slot held by charge (a charge that is
// being refunded because its order could not take it), inside the
// caller's transaction, so that the order may be paid again.
func ReleaseCharge(ctx context.Context, tx *gorm.DB, orderID, chargeID string) error {
	return tx.WithContext(ctx).Exec("UPDATE tmf_payment_balances SET charge_id = '', method = '', updated_at = ? WHERE order_id = ? AND charge_id = ?",
		dbutil.Stamp(time.Now()), orderID, chargeID).Error
}

// PaymentByKey returns the payment of an idempotency key, or
// gorm.ErrRecordNotFound (wrapped).
func PaymentByKey(ctx context.Context, db *gorm.DB, key string) (Payment, error) {
	return paymentByKey(db.WithContext(ctx), key)
}

// processor calls, each bounded by CallTimeout.

func (p *Payments) authorize(ctx context.Context, req AuthorizeRequest) (Authorization, error) {
	return bounded(ctx, p, req, p.proc.Authorize)
}

func (p *Payments) capture(ctx context.Context, req CaptureRequest) (Capture, error) {
	return bounded(ctx, p, req, p.proc.Capture)
}

func (p *Payments) void(ctx context.Context, req VoidRequest) (Void, error) {
	return bounded(ctx, p, req, p.proc.Void)
}

func (p *Payments) refund(ctx context.Context, req RefundRequest) (Refund, error) {
	return bounded(ctx, p, req, p.proc.Refund)
}

func (p *Payments) lookup(ctx context.Context, op Op, key string) (Outcome, error) {
	return bounded(ctx, p, key, func(ctx context.Context, key string) (Outcome, error) { return p.proc.Lookup(ctx, op, key) })
}

// bounded makes one processor call under CallTimeout.
func bounded[Req, Resp any](ctx context.Context, p *Payments, req Req, call func(context.Context, Req) (Resp, error)) (Resp, error) {
	ctx, cancel := context.WithTimeout(ctx, p.callTimeout())
	defer cancel()
	return call(ctx, req)
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
	res := db.Exec("UPDATE tmf_payments SET lease_until = ?, next_attempt = ?, attempts = attempts + 1, updated_at = ? "+
		"WHERE id = ? AND state = ? AND lease_until <= ?", p.leaseUntil(now), p.leaseUntil(now), now, old.ID, StatePending, now.UnixMicro())
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

// release gives a pending payment back after a transient failure, so
// that the next call with its key takes it over at once, notes the error,
// and lets recovery work on it again after retry.
func (p *Payments) release(db *gorm.DB, id string, cause error, retry time.Duration) error {
	code := "processor_error"
	var pe *ProcessorError
	if errors.As(cause, &pe) {
		code = pe.Code
	}
	now := p.now()
	return db.Exec("UPDATE tmf_payments SET lease_until = ?, next_attempt = ?, failure_code = ?, failure_message = ?, updated_at = ? "+
		"WHERE id = ? AND state = ?", now.UnixMicro(), now.Add(retry).UnixMicro(), truncate(code, 64), truncate(cause.Error(), maxText),
		now, id, StatePending).Error
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
	return now.Add(orDefault(p.Lease, DefaultLease)).UnixMicro()
}

func (p *Payments) callTimeout() time.Duration { return orDefault(p.CallTimeout, DefaultCallTimeout) }

func (p *Payments) retryAfter() time.Duration { return orDefault(p.RetryAfter, DefaultRetryAfter) }

// backoff is the wait before the attempt after attempts failed ones.
func (p *Payments) backoff(attempts int) time.Duration {
	base, most := orDefault(p.Backoff, DefaultBackoff), orDefault(p.MaxBackoff, DefaultMaxBackoff)
	d := base
	for i := 1; i < attempts && d < most; i++ {
		d *= 2
	}
	return min(d, most)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
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
