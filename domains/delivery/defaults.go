package delivery

import (
	"context"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// PhysicalLines is the platform default of delivery.required: an order ships
// when any of its lines is not virtual.
var PhysicalLines = Required.Impl("delivery.physical-lines", func(_ context.Context, req extensions.DeliveryRequest) (extensions.DeliveryRequirement, error) {
	for _, l := range req.Lines {
		if !l.Virtual {
			return extensions.DeliveryRequirement{Required: true}, nil
		}
	}
	return extensions.DeliveryRequirement{Required: false}, nil
}).WithVersion("1").WithDoc("Ships when any line is physical.")

// Free is the platform default of delivery.freight: no charge.
var Free = Freight.Impl("delivery.free", func(context.Context, extensions.DeliveryRequest) (extensions.Freight, error) {
	return extensions.Freight{Amount: 0, Template: "free"}, nil
}).WithVersion("1").WithDoc("Charges no freight.")

// Defaults are the domain's platform defaults.
func Defaults() []kernel.Implementation { return []kernel.Implementation{PhysicalLines, Free} }
