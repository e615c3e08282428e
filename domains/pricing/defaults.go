package pricing

import (
	"context"
	"fmt"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// ListPrice is the platform default of pricing.adjust. It runs first in the
// pipeline and checks the list prices it is given: every line has a positive
// quantity and a non-negative unit price, and the sheet has a currency.
var ListPrice = Adjust.Impl("pricing.list-price", func(_ context.Context, s extensions.PriceSheet) (extensions.PriceSheet, error) {
	if s.Currency == "" {
		return s, fmt.Errorf("price sheet without a currency")
	}
	for _, l := range s.Lines {
		if l.Quantity <= 0 {
			return s, fmt.Errorf("line %s: quantity %d must be positive", l.SKU, l.Quantity)
		}
		if l.UnitPrice < 0 {
			return s, fmt.Errorf("line %s: negative list price %d", l.SKU, l.UnitPrice)
		}
	}
	return s, nil
}).WithVersion("1").WithDoc("Checks list prices; changes nothing.")

// Defaults are the domain's platform defaults.
func Defaults() []kernel.Implementation { return []kernel.Implementation{ListPrice} }
