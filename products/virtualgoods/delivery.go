package virtualgoods

import (
	"context"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// NoDelivery is virtual-goods.no-delivery, at delivery.required: virtual
// goods are never shipped, so it always answers {Required: false}, whatever
// the lines say (order.validate refuses physical lines beforehand). It never
// skips and never fails, so lower layers are not consulted.
func NoDelivery(context.Context, extensions.DeliveryRequest) (extensions.DeliveryRequirement, error) {
	return extensions.DeliveryRequirement{Required: false}, nil
}

// NoFreight is virtual-goods.no-freight, at delivery.freight: always 0. The
// platform does not ask for freight when delivery is not required; this
// binding makes the answer explicit, and wins over lower-priority freight
// templates, if it is asked anyway.
func NoFreight(context.Context, extensions.DeliveryRequest) (extensions.Freight, error) {
	return extensions.Freight{Amount: 0, Template: ImplNoFreight}, nil
}

var (
	_ kernel.Func[extensions.DeliveryRequest, extensions.DeliveryRequirement] = NoDelivery
	_ kernel.Func[extensions.DeliveryRequest, extensions.Freight]             = NoFreight
)
