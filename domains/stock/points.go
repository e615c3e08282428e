package stock

import (
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// RouteWarehouse chooses the location that ships an order.
var RouteWarehouse = kernel.DeclareFirst[extensions.RouteRequest, extensions.Route](extensions.StockRouteWarehouse, kernel.Options{
	Doc: "Chooses the stock location that ships an order. The default picks, by priority, a location that covers the " +
		"shipping region and has every line's quantity sellable. An implementation must name one of the given locations " +
		"and must not reserve anything itself: reservation follows, with a conditional update.",
	Policy:   kernel.Fallback,
	Deadline: 20 * time.Millisecond,
})

// Points lists the domain's extension points.
func Points() []kernel.Point { return []kernel.Point{RouteWarehouse} }
