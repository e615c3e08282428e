package main

import (
	"context"
	"fmt"

	"github.com/tmf-platform/tmf/extensions"
)

// CodeOneUnitPerOrder is the code of the bizpack's denial.
const CodeOneUnitPerOrder = "one_unit_per_order"

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

var _ func(context.Context, extensions.ValidateRequest) (extensions.Verdict, error) = OneUnit
