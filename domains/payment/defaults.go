package payment

import (
	"context"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// Card is the platform default of payment.methods: card payment only.
var Card = Methods.Impl("payment.card", func(context.Context, extensions.PaymentMethodsRequest) (extensions.PaymentMethodList, error) {
	return extensions.PaymentMethodList{Methods: []string{"card"}}, nil
}).WithVersion("1").WithDoc("Offers card payment.")

// Defaults are the domain's platform defaults.
func Defaults() []kernel.Implementation { return []kernel.Implementation{Card} }
