package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/tmf-platform/tmf/extensions"
)

// The codes of the bizpack's denials.
const (
	CodeOneUnitPerOrder = "one_unit_per_order"
	CodeOnePerBuyer     = "one_per_buyer"
)

// The lifecycle events OnePerBuyer listens to (the names of the platform's
// default graph).
const (
	eventPlace          = "place"
	eventCancel         = "cancel"
	eventPaymentTimeout = "payment_timeout"
	eventPaymentFail    = "payment_fail"
)

// OneUnit is the bizpack's order.validate: a flash-sale order is exactly
// one line of quantity 1. Any other order (no line, several lines, another
// quantity) is denied with "one_unit_per_order", saying what was asked.
// It keeps no state and fails only when ctx is done.
func OneUnit(ctx context.Context, req extensions.ValidateRequest) (extensions.Verdict, error) {
	if err := ctx.Err(); err != nil {
		return extensions.Verdict{}, err
	}
	switch {
	case len(req.Lines) != 1:
		return extensions.Deny(CodeOneUnitPerOrder, fmt.Sprintf(
			"a flash-sale order is one unit of one SKU; this order has %d lines", len(req.Lines))), nil
	case req.Lines[0].Quantity != 1:
		return extensions.Deny(CodeOneUnitPerOrder, fmt.Sprintf(
			"a flash-sale order is one unit of one SKU; this order asks for %d of %s", req.Lines[0].Quantity, req.Lines[0].SKU)), nil
	}
	return extensions.Allow(), nil
}

// OnePerBuyer is the bizpack's order.guard: one flash-sale order per buyer.
// order.validate cannot carry this rule (its request has no order id, so a
// retry could not be told from a second order); the guard of "place" can.
//
//   - On "place" the buyer (GuardRequest.BuyerID) is claimed for the order
//     if no order claims it, and the guard allows; it allows as well when
//     this same order already claims the buyer, so the platform may ask
//     again. If another order claims the buyer it denies with
//     "one_per_buyer", naming that order.
//   - On "cancel", "payment_timeout" and "payment_fail" of the claiming
//     order the claim is released, and the buyer may order again. The
//     release is idempotent, and the same events of any other order change
//     nothing; all are allowed.
//   - Every other event does not concern it: ErrSkip. A paid order keeps
//     its claim.
//
// Claims live in this process only: a restart forgets them, each server
// runs its own bizpack process with its own claims, and a claim whose
// order the platform then did not create (another guard vetoed it, the
// stock ran out) stays until the process ends (see README.md).
//
// OnePerBuyer is safe for concurrent use: one mutex serialises claims, so
// of many orders placed at once for one buyer exactly one is allowed.
type OnePerBuyer struct {
	mu     sync.Mutex
	claims map[string]string // buyer id → the order that claims it
}

// NewOnePerBuyer returns the guard with no claims.
func NewOnePerBuyer() *OnePerBuyer { return &OnePerBuyer{claims: map[string]string{}} }

// Guard answers order.guard (see OnePerBuyer). It returns an error, not a
// verdict, when ctx is done and when the request of an event it handles
// lacks the order id or the buyer id the platform always sends.
func (g *OnePerBuyer) Guard(ctx context.Context, req extensions.GuardRequest) (extensions.Verdict, error) {
	if err := ctx.Err(); err != nil {
		return extensions.Verdict{}, err
	}
	switch req.Event {
	case eventPlace, eventCancel, eventPaymentTimeout, eventPaymentFail:
	default:
		return extensions.Verdict{}, extensions.ErrSkip
	}
	switch {
	case req.OrderID == "":
		return extensions.Verdict{}, fmt.Errorf("order.guard %s: the request has no order id", req.Event)
	case req.BuyerID == "":
		return extensions.Verdict{}, fmt.Errorf("order.guard %s of order %s: the request has no buyer id", req.Event, req.OrderID)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	claimant, claimed := g.claims[req.BuyerID]
	if req.Event != eventPlace {
		if claimed && claimant == req.OrderID {
			delete(g.claims, req.BuyerID)
		}
		return extensions.Allow(), nil
	}
	if claimed && claimant != req.OrderID {
		return extensions.Deny(CodeOnePerBuyer, fmt.Sprintf(
			"buyer %s already has flash-sale order %s; one order per buyer (cancel it to order again)", req.BuyerID, claimant)), nil
	}
	g.claims[req.BuyerID] = req.OrderID
	return extensions.Allow(), nil
}

var (
	_ func(context.Context, extensions.ValidateRequest) (extensions.Verdict, error) = OneUnit
	_ func(context.Context, extensions.GuardRequest) (extensions.Verdict, error)    = (*OnePerBuyer)(nil).Guard
)
