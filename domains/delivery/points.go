package delivery

import (
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// Required says whether an order is shipped at all.
var Required = kernel.DeclareFirst[extensions.DeliveryRequest, extensions.DeliveryRequirement](extensions.DeliveryRequired, kernel.Options{
	Doc: "Says whether an order is shipped at all. The default requires delivery when any line is not virtual; " +
		"virtual goods answer false, and then no address is needed and no freight is charged.",
	Policy:   kernel.Fail,
	Deadline: 10 * time.Millisecond,
})

// Freight computes the freight charge of an order that ships.
var Freight = kernel.DeclareFirst[extensions.DeliveryRequest, extensions.Freight](extensions.DeliveryFreight, kernel.Options{
	Doc: "Computes the freight charge of an order that ships, in minor units of the order's currency, from templates " +
		"held in memory: no remote call while ordering. The default charges nothing. A failing implementation fails " +
		"the order rather than falling back to a cheaper answer: freight is money.",
	Policy:   kernel.Fail,
	Deadline: 20 * time.Millisecond,
})

// Points lists the domain's extension points.
func Points() []kernel.Point { return []kernel.Point{Required, Freight} }
