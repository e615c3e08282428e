package main

import (
	"context"
	"fmt"
	"math"

	"github.com/tmf-platform/tmf/extensions"
)

// CreditLimitExceeded is the code of Validate's denial.
const CreditLimitExceeded = "credit_limit_exceeded"

// Validate is the bizpack's order.validate: the per-order credit limit. The
// order as submitted carries list prices (ValidateRequest lines have
// UnitPrice = the SKU's list price), so Validate prices each line as Adjust
// will, with TierPrice and the buyer's tier discount (none without a listed
// tier), and sums quantity × tier price over the lines. The order is
// allowed when the sum is at most the tier's CreditLimit (the
// DefaultCreditLimit without a listed tier), and denied with
// "credit_limit_exceeded", naming the sum and the limit, when it is above
// it or does not fit in an int64.
//
// The check knows only this bizpack's discount: a promotion, or a product
// below it in the pricing pipeline, may make the order cheaper than
// checked, never dearer, so the check errs on the side of refusing. Lines
// with a quantity of 0 or less count as nothing; the platform's own
// validation refuses them. A negative unit price is an error, as is a done
// ctx. Validate keeps no state.
func (t *Tiers) Validate(ctx context.Context, req extensions.ValidateRequest) (extensions.Verdict, error) {
	if err := ctx.Err(); err != nil {
		return extensions.Verdict{}, err
	}
	name, tier, listed := t.tierOf(req.Buyer)
	who, limit := "without a tier", t.cfg.DefaultCreditLimit
	if listed {
		who, limit = "of tier "+name, tier.CreditLimit
	}
	var total int64
	for _, l := range req.Lines {
		p, err := TierPrice(l.UnitPrice, tier.DiscountBP) // the zero Tier: no discount
		if err != nil {
			return extensions.Verdict{}, fmt.Errorf("order.validate: line %s: %w", l.SKU, err)
		}
		if l.Quantity <= 0 {
			continue
		}
		lt, ok := lineTotal(l.Quantity, p)
		if !ok || lt > math.MaxInt64-total {
			return extensions.Deny(CreditLimitExceeded, fmt.Sprintf(
				"buyer %s %s: the order amounts to more than %d at tier prices, above the per-order credit limit of %d (minor units)",
				req.Buyer.ID, who, int64(math.MaxInt64), limit)), nil
		}
		total += lt
	}
	if total > limit {
		return extensions.Deny(CreditLimitExceeded, fmt.Sprintf(
			"buyer %s %s: the order amounts to %d at tier prices, %d above the per-order credit limit of %d (minor units)",
			req.Buyer.ID, who, total, total-limit, limit)), nil
	}
	return extensions.Allow(), nil
}

var _ func(context.Context, extensions.ValidateRequest) (extensions.Verdict, error) = (*Tiers)(nil).Validate
