package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/store"
)

// PayRequest pays an order.
type PayRequest struct {
	// Key is the caller's idempotency key of the payment: the same key is the
	// same payment, so a repeated request or a duplicate callback never
	// charges twice.
	Key string
	// Card pays an order whose payment method is "card".
	Card  *payment.Card
	Actor string
}

// PayResult is the order after a payment and the payment itself.
type PayResult struct {
	Order   View            `json:"order"`
	Payment payment.Payment `json:"payment"`
}

// Pay pays an order pending payment by its payment method, then fires its
// pay event:
//   - card: the card is charged through the payments service (the attempt
//     recorded first, then authorize and capture, once per key); the
//     capture and the pay transition are committed in ONE transaction. A
//     decline leaves the order pending payment (the buyer may pay with
//     another card, under another key) and answers payment_declined; the
//     same key again answers the same decline. A processor that does not
//     answer leaves the attempt pending: the same key again resumes it,
//     and payment recovery settles it if nobody does;
//   - agent_credit: the credit reserved at placement is captured in the pay
//     transition's transaction.
//
// Other methods are settled outside the platform (an operator fires pay).
// Paying again with the same key answers with the same payment and the
// order as it is now. A charge that lands after the order was cancelled
// or timed out (or that a guard refused) is refunded, never kept.
func (s *Service) Pay(ctx context.Context, id string, req PayRequest) (PayResult, error) {
	o, err := s.load(ctx, id)
	if err != nil {
		return PayResult{}, err
	}
	if req.Key == "" {
		return PayResult{}, refuse(CodeInvalid, nil, "a payment needs an idempotency key")
	}
	if o.ParentID != "" {
		return PayResult{}, refuse(CodeEventNotAllowed, map[string]any{"status": o.Status, "allowedEvents": []string{}, "parentId": o.ParentID},
			"order %s is a sub-order: pay its parent %s", id, o.ParentID)
	}
	switch o.PaymentMethod {
	case payment.MethodCard:
		return s.payByCard(ctx, o, req)
	case payment.MethodAgentCredit:
		v, err := s.Fire(ctx, id, Event{Name: lifecycle.EventPay, Actor: req.Actor, Data: map[string]string{"paymentKey": req.Key}})
		if err != nil && !paidAlready(err) {
			return PayResult{}, err
		}
		if err != nil {
			if v, err = s.Get(ctx, id); err != nil {
				return PayResult{}, err
			}
		}
		pay, err := s.paymentOf(ctx, id, payment.MethodAgentCredit)
		if err != nil {
			return PayResult{}, err
		}
		if pay == nil {
			return PayResult{}, refuse(CodeEventNotAllowed, map[string]any{"status": v.Status, "allowedEvents": v.AvailableEvents},
				"order %s is %s and was not paid by credit", id, v.Status)
		}
		return PayResult{Order: v, Payment: *pay}, nil
	}
	return PayResult{}, refuse(CodePaymentMethod, map[string]any{"method": o.PaymentMethod},
		"payment method %q is settled outside the platform; an operator fires the pay event", o.PaymentMethod)
}

func (s *Service) payByCard(ctx context.Context, o store.Order, req PayRequest) (PayResult, error) {
	if req.Card == nil {
		return PayResult{}, refuse(CodePaymentInvalid, nil, "order %s is paid by card: the request needs a card", o.ID)
	}
	key := cardKey(o.ID, req.Key)
	if o.Status != lifecycle.PendingPayment {
		// A key seen before answers as the first time, whatever the order
		// became since (a key of an order pending payment is answered by
		// Charge itself).
		prev, err := payment.PaymentByKey(ctx, s.store.DB(ctx), key)
		switch {
		case err == nil && prev.State != payment.StatePending:
			return s.chargeAnswer(ctx, o.ID, prev)
		case err == nil:
			// The attempt was left pending before the order moved on: finish
			// it now (a capture that went through is refunded at once).
			return s.charge(ctx, o, key, *req.Card, req.Actor)
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return PayResult{}, err
		}
		return PayResult{}, refuse(CodeEventNotAllowed, map[string]any{"status": o.Status, "allowedEvents": allowedOf(s.lifecycleOf(o.BizCode), o.Status)},
			"order %s is %s: there is nothing to pay", o.ID, o.Status)
	}
	return s.charge(ctx, o, key, *req.Card, req.Actor)
}

// charge charges the order's total under key (or resumes the attempt of
// key) and answers with its outcome.
func (s *Service) charge(ctx context.Context, o store.Order, key string, card payment.Card, actor string) (PayResult, error) {
	pay, err := s.payments.Charge(ctx, s.store.DB(ctx), payment.ChargeRequest{OrderID: o.ID, Key: key,
		Amount: o.Total, Currency: o.Currency, Card: card}, s.settler(actor))
	if err != nil {
		return PayResult{}, chargeError(err)
	}
	return s.chargeAnswer(ctx, o.ID, pay)
}

// chargeAnswer is the answer to a settled card charge: the paid order, the
// decline (402), or the refusal of a charge its order could not take (it
// is refunded).
func (s *Service) chargeAnswer(ctx context.Context, id string, pay payment.Payment) (PayResult, error) {
	cur, err := s.load(ctx, id)
	if err != nil {
		return PayResult{}, err
	}
	vs := []View{viewOf(cur, s.lifecycleOf(cur.BizCode))}
	if err := s.withSubOrders(ctx, vs); err != nil {
		return PayResult{}, err
	}
	v := vs[0]
	switch {
	case pay.State == payment.StateFailed:
		msg := "the card was declined: " + pay.FailureMessage
		if pay.FailureCode == payment.FailureAbandoned {
			msg = "the payment attempt was abandoned: " + pay.FailureMessage + "; pay again with a new key"
		}
		return PayResult{}, &Error{Code: CodePaymentDeclined, Message: msg,
			Fields: map[string]any{"declineCode": pay.FailureCode, "paymentId": pay.ID, "status": cur.Status}}
	case stockBucket(cur.Status) == "sellable" || cur.Status == lifecycle.PendingPayment || cur.Status == lifecycle.Created:
		// Charged, but the order did not take the charge: it is refunded.
		return PayResult{}, &Error{Code: CodeEventNotAllowed,
			Message: fmt.Sprintf("order %s is %s: the card was charged but the order could not take it; the charge is refunded", id, cur.Status),
			Fields:  map[string]any{"status": cur.Status, "allowedEvents": v.AvailableEvents, "paymentId": pay.ID}}
	}
	return PayResult{Order: v, Payment: pay}, nil
}

// settler records a card capture with the order's pay transition, or
// refunds it when the order can no longer take it.
func (s *Service) settler(actor string) payment.Settler {
	return func(ctx context.Context, c payment.Captured) error { return s.settleCapture(ctx, c, actor) }
}

// errChargeNotHeld rolls back a pay transition whose capture is not the
// order's charge (the order was charged twice): that capture is refunded.
var errChargeNotHeld = errors.New("the capture is not the order's charge")

// errSettledBefore rolls back a pay transition whose capture was recorded
// by an earlier settling: nothing is left to do.
var errSettledBefore = errors.New("the capture was recorded before")

// settleCapture commits a capture: with the order's pay transition in one
// transaction when the order is pending payment and the charge is its own;
// otherwise (cancelled or timed out meanwhile, a guard vetoed, a second
// charge) recorded together with the refund of the whole charge. Settling
// the same capture again does nothing.
func (s *Service) settleCapture(ctx context.Context, c payment.Captured, actor string) error {
	record := func(ctx context.Context, tx *gorm.DB) error {
		held, fresh, err := payment.RecordCapture(ctx, tx, c)
		switch {
		case err != nil:
			return err
		case !fresh:
			return errSettledBefore
		case !held:
			return errChargeNotHeld
		}
		return nil
	}
	_, err := s.Fire(ctx, c.Payment.OrderID, Event{Name: lifecycle.EventPay, Actor: actor,
		Data: map[string]string{"paymentId": c.Payment.ID}, steps: []store.Step{record}})
	var refused *Error
	switch {
	case err == nil, errors.Is(err, errSettledBefore):
		return nil
	case errors.Is(err, errChargeNotHeld), errors.As(err, &refused) && (refused.Code == CodeEventNotAllowed || refused.Code == CodeVetoed):
		return s.refundCapture(ctx, c)
	}
	return err
}

// refundCapture records a capture its order cannot take and, in the same
// transaction, the refund of all of it (paid by payment recovery) and its
// payment.refund_due event; the order's slot is freed so that it may be
// paid again while it still can.
func (s *Service) refundCapture(ctx context.Context, c payment.Captured) error {
	o, err := s.load(ctx, c.Payment.OrderID)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	refund := RefundDue{OrderID: o.ID, Key: c.Payment.ID + "/refund", Amount: c.Payment.Amount, Currency: c.Payment.Currency,
		Reason: "charged while the order was " + o.Status, ChargeID: c.Payment.ID}
	return s.store.Tx(ctx, func(tx *gorm.DB) error {
		_, fresh, err := payment.RecordCapture(ctx, tx, c)
		if err != nil || !fresh {
			return err
		}
		if err := s.oweRefund(ctx, tx, refund); err != nil {
			return err
		}
		if err := payment.ReleaseCharge(ctx, tx, o.ID, c.Payment.ID); err != nil {
			return err
		}
		return s.store.EnqueueIn(tx, o.ID, ofOrder(event(TopicRefundDue, o.ID, refund, now), o.BizCode, o.Version))
	})
}

// oweRefund records a card refund an order owes in the transaction that
// decided it; payment recovery pays it.
func (s *Service) oweRefund(ctx context.Context, tx *gorm.DB, r RefundDue) error {
	_, _, err := s.payments.OweRefund(ctx, tx, payment.RefundOrderRequest{OrderID: r.OrderID, Key: r.Key, Amount: r.Amount,
		Reason: r.Reason, ChargeID: r.ChargeID})
	return err
}

// refundSteps are the writes and events of a refund an order owes, in the
// transaction that decides it: agent credit comes back at once; a card
// refund is recorded as owed (recovery pays it) and announced by a
// payment.refund_due event.
func (s *Service) refundSteps(o store.Order, r RefundDue, now time.Time) ([]store.Step, []store.OutboxEvent) {
	if o.PaymentMethod == payment.MethodAgentCredit {
		return []store.Step{creditRefundStep(r)}, nil
	}
	return []store.Step{func(ctx context.Context, tx *gorm.DB) error { return s.oweRefund(ctx, tx, r) }},
		[]store.OutboxEvent{event(TopicRefundDue, o.ID, r, now)}
}

// TimeOut fires the payment timeout of an unpaid order, after settling its
// payment attempts: a charge nobody works on is settled first (its capture
// pays the order, or it fails); while one is still being worked on, the
// order is left alone (payment_in_progress) for a later sweep.
func (s *Service) TimeOut(ctx context.Context, id, actor string) (View, error) {
	left, err := s.payments.RecoverOrder(ctx, s.store.DB(ctx), id, s.settler(actor))
	if err != nil {
		return View{}, err
	}
	if left > 0 {
		return View{}, refuse(CodePaymentInProgress, map[string]any{"pending": left},
			"order %s has a payment attempt in progress; its timeout waits for it", id)
	}
	return s.Fire(ctx, id, Event{Name: lifecycle.EventPaymentTimeout, Actor: actor})
}

// Outbox topics of payments settled outside an order transition (a
// captured charge is the order's pay transition: order.paid, or
// order.completed where pay completes the order).
const (
	TopicChargeFailed = events.PaymentChargeFailed
	TopicRefunded     = events.PaymentRefunded
	TopicRefundFailed = events.PaymentRefundFailed
)

// paymentSettled writes the outbox event of a payment settled for good, in
// the transaction that settles it.
func (s *Service) paymentSettled(ctx context.Context, tx *gorm.DB, pay payment.Payment) error {
	topic := TopicRefunded
	switch {
	case pay.Kind == payment.KindCharge:
		topic = TopicChargeFailed
	case pay.State == payment.StateFailed:
		topic = TopicRefundFailed
	}
	// The order's identity and version as this transaction reads them: a
	// settled payment leaves the order's version alone.
	var o struct {
		BizCode string
		Version int64
	}
	if err := tx.WithContext(ctx).Model(&store.Order{}).Select("biz_code", "version").Where("id = ?", pay.OrderID).Take(&o).Error; err != nil {
		return fmt.Errorf("payment %s: order %s: %w", pay.ID, pay.OrderID, err)
	}
	return s.store.EnqueueIn(tx, pay.OrderID, ofOrder(event(topic, pay.OrderID, pay, s.now().UTC()), o.BizCode, o.Version))
}

// RecoveryActor is the actor recorded when payment recovery completes a
// payment.
const RecoveryActor = "system:payment-recovery"

// RecoverPayments runs one pass of payment recovery over up to limit
// payments nobody works on: owed refunds are paid (with backoff), and
// charges whose answer was lost are settled from what the processor knows.
func (s *Service) RecoverPayments(ctx context.Context, limit int) (payment.RecoverStats, error) {
	return s.payments.Recover(ctx, s.store.DB(ctx), limit, s.settler(RecoveryActor))
}

// FailedRefunds lists the card refunds the processor refused for good and
// no retry replaced.
func (s *Service) FailedRefunds(ctx context.Context, after string, limit int) ([]payment.Payment, error) {
	return s.payments.FailedRefunds(ctx, s.store.DB(ctx), after, limit)
}

// RetryRefund owes again a refund the processor refused for good.
func (s *Service) RetryRefund(ctx context.Context, paymentID string) (payment.Payment, error) {
	pay, err := s.payments.RetryRefund(ctx, s.store.DB(ctx), paymentID)
	var state *payment.RefundStateError
	switch {
	case errors.As(err, &state):
		return payment.Payment{}, &Error{Code: CodeRefundNotRetryable, Message: state.Error(), Fields: map[string]any{"state": state.State, "kind": state.Kind}, Err: err}
	case errors.Is(err, gorm.ErrRecordNotFound):
		return payment.Payment{}, &Error{Code: CodePaymentNotFound, Message: "payment not found", Err: err}
	}
	return pay, err
}

// cardKey scopes a caller's key to the order: payment keys are unique
// among all payments.
func cardKey(orderID, key string) string { return "card:" + orderID + "/" + key }

// paidAlready reports an event refused because the order has left the state.
func paidAlready(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeEventNotAllowed
}

func allowedOf(lc *lifecycle.Compiled, state string) []string {
	if lc == nil {
		return []string{}
	}
	if ev := lc.Allowed(state); ev != nil {
		return ev
	}
	return []string{}
}

// paymentOf returns the order's succeeded charge by method, or nil.
func (s *Service) paymentOf(ctx context.Context, orderID, method string) (*payment.Payment, error) {
	pays, err := s.payments.Payments(ctx, s.store.DB(ctx), orderID)
	if err != nil {
		return nil, err
	}
	for i := range pays {
		if p := pays[i]; p.Kind == payment.KindCharge && p.Method == method && p.State == payment.StateSucceeded {
			return &p, nil
		}
	}
	return nil, nil
}

// Payments lists an order's charges and refunds.
func (s *Service) Payments(ctx context.Context, id string) ([]payment.Payment, error) {
	if _, err := s.load(ctx, id); err != nil {
		return nil, err
	}
	pays, err := s.payments.Payments(ctx, s.store.DB(ctx), id)
	if pays == nil {
		pays = []payment.Payment{}
	}
	return pays, err
}

// chargeError maps the payment domain's charge refusals.
func chargeError(err error) error {
	var invalidCard *payment.InvalidCardError
	var invalidReq *payment.InvalidRequestError
	var inProgress *payment.InProgressError
	var paid *payment.AlreadyPaidError
	var conflict *payment.KeyConflictError
	var proc *payment.ProcessorError
	switch {
	case errors.As(err, &invalidCard), errors.As(err, &invalidReq):
		return &Error{Code: CodePaymentInvalid, Message: err.Error(), Err: err}
	case errors.As(err, &conflict):
		return &Error{Code: CodePaymentInvalid, Message: "this idempotency key was used for another payment: " + err.Error(), Err: err}
	case errors.As(err, &inProgress):
		return &Error{Code: CodePaymentInProgress, Message: "a payment of this order is in progress; try again shortly",
			Fields: map[string]any{"paymentId": inProgress.PaymentID}, Err: err}
	case errors.As(err, &paid):
		return &Error{Code: CodeEventNotAllowed, Message: "the order is already paid", Fields: map[string]any{"paymentId": paid.PaymentID,
			"allowedEvents": []string{}}, Err: err}
	case errors.As(err, &proc), errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodePaymentProcessor, Message: "the card processor did not answer; the payment is pending: pay again with the same key",
			Err: err}
	}
	return err
}
