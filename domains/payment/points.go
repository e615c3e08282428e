package payment

import (
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// Methods lists the payment methods offered for an order, preferred first.
var Methods = kernel.DeclareFirst[extensions.PaymentMethodsRequest, extensions.PaymentMethodList](extensions.PaymentMethods, kernel.Options{
	Doc: "Lists the payment methods offered for an order, preferred first. An order asking for a method not in the " +
		"list is refused. The default offers \"card\".",
	Policy:   kernel.Fallback,
	Deadline: 20 * time.Millisecond,
})

// Points lists the domain's extension points.
func Points() []kernel.Point { return []kernel.Point{Methods} }
