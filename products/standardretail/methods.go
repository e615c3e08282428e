package standardretail

import (
	"encoding/json"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/products/internal/paymethods"
)

// NewMethods is the factory of standard-retail.methods, at payment.methods:
// it offers the methods of the arguments {"methods": ["card", "cod"]},
// preferred first, or DefaultMethods when they name none. An empty list, a
// blank name or a duplicate is refused.
func NewMethods(args json.RawMessage) (kernel.Func[extensions.PaymentMethodsRequest, extensions.PaymentMethodList], error) {
	return paymethods.New(args, DefaultMethods()...)
}
