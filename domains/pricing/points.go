package pricing

import (
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// Adjust transforms the priced lines of an order, starting from list prices.
var Adjust = kernel.DeclarePipeline[extensions.PriceSheet](extensions.PricingAdjust, kernel.Options{
	Doc: "Transforms the unit prices of an order's lines, starting from list prices: the platform default first, " +
		"then products by priority, then bizpacks. An implementation returns the sheet with a new Lines slice; it must not " +
		"change SKUs or quantities, and it names what it did in Adjustments. Prices never go below zero.",
	Policy:   kernel.Fail,
	Deadline: 50 * time.Millisecond,
})

// Points lists the domain's extension points.
func Points() []kernel.Point { return []kernel.Point{Adjust} }
