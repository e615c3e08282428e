package standardretail

import (
	"context"
	"slices"
	"strings"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// ShippingAddress is standard-retail.shipping-address, at order.validate: an
// order with any physical (non-virtual) line needs a shipping address with a
// non-blank Region, which freight and warehouse routing are keyed by;
// otherwise it is denied with code "address_required". An order of virtual
// lines only is allowed without an address. It never returns an error.
func ShippingAddress(_ context.Context, req extensions.ValidateRequest) (extensions.Verdict, error) {
	if !slices.ContainsFunc(req.Lines, func(l extensions.Line) bool { return !l.Virtual }) {
		return extensions.Allow(), nil
	}
	if req.Shipping == nil || strings.TrimSpace(req.Shipping.Region) == "" {
		return extensions.Deny("address_required", "an order with physical goods needs a shipping address with a region"), nil
	}
	return extensions.Allow(), nil
}

var _ kernel.Func[extensions.ValidateRequest, extensions.Verdict] = ShippingAddress
