package order

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/store"
)

// TopicRefundDue is the outbox topic of a card refund an order owes (a paid
// order was cancelled, rejected or failed before shipping, goods came back,
// or a charge landed on an order that could no longer take it). The event
// tells other systems; the refund itself is recorded as owed in the same
// transaction (a pending refund payment with its amount reserved) and paid
// by payment recovery, at least once and exactly once in effect because it
// carries its own idempotency key.
const TopicRefundDue = events.PaymentRefundDue

// RefundDue is the payload of a TopicRefundDue event.
type RefundDue struct {
	OrderID string `json:"orderId"`
	// Key is the refund's idempotency key.
	Key      string `json:"key"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Reason   string `json:"reason"`
	// ChargeID is the charge refunded, when not the order's own charge.
	ChargeID string `json:"chargeId,omitempty"`
}

// placeSteps are the domains' writes of a new order, in its transaction:
// the coupons and budgets its promotions use, the agent credit it holds.
// Its stock comes after them, from the StockKeeper's Try.
func placeSteps(o store.Order, buyerID string, applied []extensions.Candidate) []store.Step {
	steps := []store.Step{func(ctx context.Context, tx *gorm.DB) error {
		return promotion.Redeem(ctx, tx, promotion.RedeemRequest{OrderID: o.ID, BuyerID: buyerID, Applied: applied,
			Currency: o.Currency, Now: o.CreatedAt})
	}}
	if o.PaymentMethod == payment.MethodAgentCredit {
		steps = append(steps, func(ctx context.Context, tx *gorm.DB) error {
			return payment.ReserveCredit(ctx, tx, o.ID, buyerID, extensions.Money{Amount: o.Total, Currency: o.Currency})
		})
	}
	return steps
}

// stockBucket is where an order's stock sits in a state of the built-in
// graphs; "" for states the platform does not know (custom states keep the
// stock where it was).
func stockBucket(state string) string {
	switch state {
	case lifecycle.Created, lifecycle.PendingPayment:
		return "reserved"
	case lifecycle.PendingReview, lifecycle.PendingOutbound, lifecycle.Fulfilling:
		return "frozen"
	case lifecycle.PendingInbound, lifecycle.Completed, lifecycle.InboundFailed, lifecycle.Fulfilled:
		return "shipped"
	case lifecycle.Cancelled, lifecycle.PaymentFailed, lifecycle.Rejected, lifecycle.OutboundFailed, lifecycle.FulfilFailed:
		return "sellable"
	}
	return ""
}

// stockKinds are the stock moves of a transition between two states:
// paying freezes the reservation, shipping ships it, ending unpaid or
// unshipped gives it back.
func stockKinds(from, to string) []string {
	a, b := stockBucket(from), stockBucket(to)
	if a == "" || b == "" || a == b {
		return nil
	}
	switch a + ">" + b {
	case "reserved>frozen":
		return []string{stock.KindConfirm}
	case "reserved>shipped":
		return []string{stock.KindConfirm, stock.KindShip}
	case "reserved>sellable":
		return []string{stock.KindRelease}
	case "frozen>shipped":
		return []string{stock.KindShip}
	case "frozen>sellable":
		return []string{stock.KindUnfreeze}
	}
	return nil
}

// transitionSteps are the domains' writes of a transition: stock moves;
// before payment, giving back coupons, budgets and reserved credit; at
// payment, capturing the reserved credit.
func transitionSteps(o store.Order, from, to string, keeper StockKeeper) []store.Step {
	var steps []store.Step
	a, b := stockBucket(from), stockBucket(to)
	credit := o.PaymentMethod == payment.MethodAgentCredit
	switch {
	case a == "reserved" && b == "sellable":
		steps = append(steps, func(ctx context.Context, tx *gorm.DB) error { return promotion.Release(ctx, tx, o.ID) })
		if credit {
			steps = append(steps, func(ctx context.Context, tx *gorm.DB) error { return payment.ReleaseCredit(ctx, tx, o.ID) })
		}
	case a == "reserved" && (b == "frozen" || b == "shipped") && credit:
		steps = append(steps, func(ctx context.Context, tx *gorm.DB) error {
			_, err := payment.CaptureCredit(ctx, tx, o.ID)
			return err
		})
	}
	// An order that ends before it ships (cancelled, payment timeout or
	// failure, rejected, outbound failed) gives back what it counted
	// against purchase limits; a shipped one keeps it, returns included.
	if (a == "reserved" || a == "frozen") && b == "sellable" {
		steps = append(steps, releaseStep(o.ID))
	}
	for _, kind := range stockKinds(from, to) {
		steps = append(steps, keeper.Move(o.ID, kind))
	}
	return steps
}

// refundOnTransition is the refund a transition owes: the whole total when
// a paid order ends before it ships (cancelled, rejected, outbound failed,
// or its supplier did not deliver: fulfil_failed).
func refundOnTransition(o store.Order, from, to string) (RefundDue, bool) {
	if stockBucket(from) != "frozen" || stockBucket(to) != "sellable" || o.Total == 0 {
		return RefundDue{}, false
	}
	return RefundDue{OrderID: o.ID, Key: o.ID + "/refund/" + to, Amount: o.Total, Currency: o.Currency, Reason: "order " + to}, true
}

// creditRefundStep gives an agent's captured credit back inside the
// transition's transaction.
func creditRefundStep(r RefundDue) store.Step {
	return func(ctx context.Context, tx *gorm.DB) error {
		_, err := payment.RefundCredit(ctx, tx, r.OrderID, r.Key, r.Amount)
		return err
	}
}

// couponError maps the promotion domain's coupon refusals to service errors;
// other errors pass through unchanged.
func couponError(err error) error {
	var many *promotion.TooManyCouponsError
	var coupon *promotion.CouponError
	var exhausted *promotion.BudgetExhaustedError
	switch {
	case errors.As(err, &many):
		return &Error{Code: CodeTooManyCoupons, Message: many.Error(), Fields: map[string]any{"max": many.Max}, Err: err}
	case errors.As(err, &coupon):
		return &Error{Code: CodeCouponUnavailable, Message: coupon.Error(),
			Fields: map[string]any{"coupon": coupon.Code, "reason": coupon.Reason}, Err: err}
	case errors.As(err, &exhausted):
		return &Error{Code: CodeBudgetExhausted, Message: exhausted.Error(),
			Fields: map[string]any{"promotion": exhausted.PromotionID}, Err: err}
	}
	return err
}

// creditError maps the payment domain's credit refusals at placement.
func creditError(err error) error {
	var short *payment.InsufficientCreditError
	var none *payment.CreditAccountNotFoundError
	var currency *payment.CurrencyMismatchError
	switch {
	case errors.As(err, &short):
		return &Error{Code: CodeInsufficientCredit, Message: short.Error(),
			Fields: map[string]any{"requested": short.Requested, "available": short.Available}, Err: err}
	case errors.As(err, &none):
		return &Error{Code: CodeInsufficientCredit, Message: fmt.Sprintf("%s: no credit line", none.Error()),
			Fields: map[string]any{"requested": 0, "available": 0}, Err: err}
	case errors.As(err, &currency):
		return &Error{Code: CodeMixedCurrency, Message: currency.Error(), Err: err}
	}
	return err
}
