package order

import (
	"context"
	"fmt"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// Basic is the platform default of order.validate: an order has at least one
// line, every quantity is positive, and no SKU appears on two lines.
var Basic = Validate.Impl("order.basic", func(_ context.Context, req extensions.ValidateRequest) (extensions.Verdict, error) {
	if len(req.Lines) == 0 {
		return extensions.Deny("no_lines", "an order needs at least one line"), nil
	}
	seen := make(map[string]bool, len(req.Lines))
	for _, l := range req.Lines {
		if l.Quantity <= 0 {
			return extensions.Deny("bad_quantity", fmt.Sprintf("line %s: quantity %d must be positive", l.SKU, l.Quantity)), nil
		}
		if seen[l.SKU] {
			return extensions.Deny("duplicate_line", fmt.Sprintf("SKU %s appears on two lines", l.SKU)), nil
		}
		seen[l.SKU] = true
	}
	return extensions.Allow(), nil
}).WithVersion("1").WithDoc("At least one line, positive quantities, one line per SKU.")

// Defaults are the platform defaults of the order's points. order.guard has
// none: without a product or bizpack, every allowed transition passes.
func Defaults() []kernel.Implementation { return []kernel.Implementation{Basic} }
