package b2bdistribution

import (
	"encoding/json"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/products/internal/paymethods"
)

// NewCredit is the factory of b2b-distribution.credit, at payment.methods:
// it offers the methods of the arguments {"methods": ["agent_credit"]},
// preferred first, or DefaultMethods when they name none. An empty list, a
// blank name or a duplicate is refused.
func NewCredit(args json.RawMessage) (kernel.Func[extensions.PaymentMethodsRequest, extensions.PaymentMethodList], error) {
	return paymethods.New(args, DefaultMethods()...)
}
