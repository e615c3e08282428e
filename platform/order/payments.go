package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tmf-platform/tmf/domains/payment"
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
//   - card: the card is charged through the payments service (authorize and
//     capture, once per key); a decline fires payment_fail, ending the
//     order (stock, coupons and budgets go back), and answers
//     payment_declined; a processor that does not answer leaves the payment
//     pending: the same key again resumes it;
//   - agent_credit: the credit reserved at placement is captured in the pay
//     transition's transaction.
//
// Other methods are settled outside the platform (an operator fires pay).
// Paying again with the same key answers with the same payment and the
// order as it is now. A charge that lands after the order was cancelled
// (a payment timeout raced it) is refunded through the outbox.
func (s *Service) Pay(ctx context.Context, id string, req PayRequest) (PayResult, error) {
	o, err := s.load(ctx, id)
	if err != nil {
		return PayResult{}, err
	}
	if req.Key == "" {
		return PayResult{}, refuse(CodeInvalid, nil, "a payment needs an idempotency key")
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
	if o.Status != lifecycle.PendingPayment {
		// A repeated request after the payment: answer as the first time.
		if pay, err := s.paymentOf(ctx, o.ID, payment.MethodCard); err != nil || pay != nil && pay.IdemKey == cardKey(o.ID, req.Key) {
			if err != nil {
				return PayResult{}, err
			}
			return PayResult{Order: viewOf(o, s.lifecycleOf(o.BizCode)), Payment: *pay}, nil
		}
		return PayResult{}, refuse(CodeEventNotAllowed, map[string]any{"status": o.Status, "allowedEvents": allowedOf(s.lifecycleOf(o.BizCode), o.Status)},
			"order %s is %s: there is nothing to pay", o.ID, o.Status)
	}
	pay, err := s.payments.Charge(ctx, s.store.DB(ctx), payment.ChargeRequest{OrderID: o.ID, Key: cardKey(o.ID, req.Key),
		Amount: o.Total, Currency: o.Currency, Card: *req.Card})
	if err != nil {
		return PayResult{}, chargeError(err)
	}
	if pay.State == payment.StateFailed {
		v, ferr := s.Fire(ctx, o.ID, Event{Name: lifecycle.EventPaymentFail, Actor: req.Actor,
			Data: map[string]string{"reason": pay.FailureCode, "paymentId": pay.ID}})
		if ferr != nil && !paidAlready(ferr) {
			return PayResult{}, ferr
		}
		return PayResult{}, &Error{Code: CodePaymentDeclined, Message: fmt.Sprintf("the card was declined: %s", pay.FailureMessage),
			Fields: map[string]any{"declineCode": pay.FailureCode, "paymentId": pay.ID, "status": v.Status}}
	}
	v, err := s.Fire(ctx, o.ID, Event{Name: lifecycle.EventPay, Actor: req.Actor, Data: map[string]string{"paymentId": pay.ID}})
	if err == nil {
		return PayResult{Order: v, Payment: pay}, nil
	}
	if !paidAlready(err) {
		return PayResult{}, err
	}
	cur, gerr := s.load(ctx, o.ID)
	if gerr != nil {
		return PayResult{}, gerr
	}
	if stockBucket(cur.Status) == "sellable" {
		// The order ended while the card was charged: give the money back.
		now := s.now().UTC()
		refund := RefundDue{OrderID: o.ID, Key: o.ID + "/refund/late-charge/" + pay.ID, Amount: pay.Amount, Currency: pay.Currency,
			Reason: "charged after the order was " + cur.Status}
		if err := s.store.Enqueue(ctx, o.ID, event(TopicRefundDue, o.ID, refund, now)); err != nil {
			return PayResult{}, err
		}
		return PayResult{}, &Error{Code: CodeEventNotAllowed, Message: fmt.Sprintf("order %s was %s while the card was charged; the charge is refunded", o.ID, cur.Status),
			Fields: map[string]any{"status": cur.Status, "allowedEvents": []string{}}, Err: err}
	}
	return PayResult{Order: viewOf(cur, s.lifecycleOf(cur.BizCode)), Payment: pay}, nil
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

// HandleRefundDue pays a refund an order owes (a TopicRefundDue event),
// exactly once per key. An order that was never charged (cash on
// delivery) owes nothing; a refund larger than what is left refunds what
// is left. An error means "deliver again later".
func (s *Service) HandleRefundDue(ctx context.Context, r RefundDue) error {
	db := s.store.DB(ctx)
	_, err := s.payments.Refund(ctx, db, payment.RefundOrderRequest{OrderID: r.OrderID, Key: r.Key, Amount: r.Amount, Reason: r.Reason})
	var exceeds *payment.RefundExceedsError
	if errors.As(err, &exceeds) {
		if exceeds.Refundable <= 0 {
			return nil
		}
		_, err = s.payments.Refund(ctx, db, payment.RefundOrderRequest{OrderID: r.OrderID, Key: r.Key + "/rest",
			Amount: exceeds.Refundable, Reason: r.Reason})
	}
	return err
}

// RefundDeadline bounds one refund's processor call when the outbox relay
// delivers it.
const RefundDeadline = 30 * time.Second
