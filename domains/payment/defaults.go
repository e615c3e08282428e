package payment

import (
	"context"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// Payment methods, as payment.methods lists them and payments record them.
const (
	MethodCard        = "card"         // a payment card, through the Processor
	MethodAgentCredit = "agent_credit" // the agent's credit line (B2B), see ReserveCredit
)

// CardMethod is the platform default of payment.methods: card payment only.
// (Its implementation name, "payment.card", is what configuration refers to.)
var CardMethod = Methods.Impl("payment.card", func(context.Context, extensions.PaymentMethodsRequest) (extensions.PaymentMethodList, error) {
	return extensions.PaymentMethodList{Methods: []string{MethodCard}}, nil
}).WithVersion("1").WithDoc("Offers card payment.")

// Defaults are the domain's platform defaults.
func Defaults() []kernel.Implementation { return []kernel.Implementation{CardMethod} }
