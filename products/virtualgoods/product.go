// Package virtualgoods is the "virtual-goods" product (reference 000: mobile
// top-ups, game cards, tickets): goods that are never shipped. An order is
// fulfilled when it is paid, so its lifecycle has no review, outbound or
// inbound step (an identity whose goods an outside supplier delivers sets
// kernel.IdentitySpec.Fulfilment, and pay then leads to fulfilling, see
// lifecycle.FulfilmentPatch); nothing is delivered and no freight is charged; every line
// must be virtual and per-line quantities are capped; card and balance
// payment are offered.
//
// The package exports the product as data (Product), the implementations
// it binds (Implementations, each registered under a name prefixed with
// "virtual-goods.") and the rules behind them, so each can be tested on its
// own.
package virtualgoods

import (
	"encoding/json"
	"time"

	"github.com/tmf-platform/tmf/domains/delivery"
	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/products/internal/paymethods"
)

// Name is the product's name in configurations.
const Name = "virtual-goods"

// The names under which the product's implementations are registered.
const (
	ImplNoDelivery  = Name + ".no-delivery"
	ImplNoFreight   = Name + ".no-freight"
	ImplVirtualOnly = Name + ".virtual-only"
	ImplMethods     = Name + ".methods"
)

// Priority of the product's bindings, unless an identity's ProductRef says
// otherwise.
const Priority = 10

// PaymentTimeout of unpaid orders, unless the identity sets one: a top-up
// or a ticket is bought on the spot.
const PaymentTimeout = 15 * time.Minute

// DefaultMethods returns the payment methods offered when the binding's
// arguments name none: card, then the buyer's account balance.
func DefaultMethods() []string { return []string{"card", "balance"} }

// Lifecycle returns the patch that derives the product's lifecycle from the
// default graph: fulfilled on payment, so pay leads straight to completed
// and the review, outbound and inbound states go, with their failure ends.
//
//	created → pending_payment → completed
//
// with cancelled and payment_failed as the other ends.
func Lifecycle() *lifecycle.Patch {
	return &lifecycle.Patch{
		Name: "virtual",
		RemoveStates: []string{lifecycle.PendingReview, lifecycle.PendingOutbound, lifecycle.PendingInbound,
			lifecycle.Rejected, lifecycle.OutboundFailed, lifecycle.InboundFailed},
		Retarget: map[string]string{lifecycle.EventPay: lifecycle.Completed},
	}
}

// Product returns the product. Its lifecycle is the default graph with
// Lifecycle applied: Product.Lifecycle is set to the default graph, so the
// patch always applies to the graph it was written for. An identity that
// enables this product and another that sets a lifecycle gets the
// higher-priority product's lifecycle; at equal priority the kernel reports
// the clash.
func Product() kernel.Product {
	return kernel.Product{
		Name:    Name,
		Version: "1",
		Doc: "Virtual goods (top-ups, game cards, tickets): fulfilled on payment, never shipped, no freight; virtual " +
			"lines only with a per-line quantity cap; card or balance payment.",
		Priority: Priority,
		Bindings: []kernel.Binding{
			{Point: delivery.Required.Spec().Name, Impl: ImplNoDelivery},
			{Point: delivery.Freight.Spec().Name, Impl: ImplNoFreight},
			{Point: order.Validate.Spec().Name, Impl: ImplVirtualOnly, Args: argsOf(DefaultVirtualOnly())},
			{Point: payment.Methods.Spec().Name, Impl: ImplMethods, Args: argsOf(paymethods.List{Methods: DefaultMethods()})},
		},
		Lifecycle:      lifecycle.Default(),
		LifecyclePatch: Lifecycle(),
		PaymentTimeout: PaymentTimeout,
	}
}

// Implementations are the implementations the product binds, to register
// before the product.
func Implementations() []kernel.Implementation {
	return []kernel.Implementation{
		delivery.Required.Impl(ImplNoDelivery, NoDelivery).WithVersion("1").
			WithDoc("Nothing is shipped: always {required: false}."),
		delivery.Freight.Impl(ImplNoFreight, NoFreight).WithVersion("1").
			WithDoc("No freight: always 0."),
		order.Validate.Factory(ImplVirtualOnly, NewVirtualOnly).WithVersion("1").
			WithDoc("Denies a physical line (physical_line) and a line above the quantity cap (quantity_limit). " +
				"Args {\"maxQuantity\": 10}."),
		payment.Methods.Factory(ImplMethods, NewMethods).WithVersion("1").
			WithDoc("Offers the configured payment methods, card and balance by default. Args {\"methods\": [...]}."),
	}
}

// argsOf renders a binding's arguments. The values are plain structs of
// numbers, strings and slices, which always marshal.
func argsOf(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("virtualgoods: arguments do not marshal: " + err.Error())
	}
	return b
}
