// Package standardretail is the "standard-retail" product: physical goods
// sold to consumers. Orders are paid, then leave the warehouse, then are
// received; there is no review step. Freight is charged by a freight
// template (by weight unless an identity gives its own), an order with
// physical goods needs a shipping region, card and cash on delivery are
// offered, and member prices apply to identities that configure them.
//
// Identities configure the product through their ProductRef's arguments,
// keyed by point: "delivery.freight" takes a delivery.Template that
// replaces DefaultFreightTemplate, "pricing.adjust" takes member-price
// arguments (pricing.MemberPrice) that replace the default, which changes
// no price, and "payment.methods" takes {"methods": [...]}.
//
// The package exports the product as data (Product), the implementations
// it binds (Implementations, each registered under a name prefixed with
// "standard-retail.") and the rules behind them, so each can be tested on
// its own.
package standardretail

import (
	"encoding/json"
	"time"

	"github.com/tmf-platform/tmf/domains/delivery"
	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/pricing"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/products/internal/paymethods"
)

// Name is the product's name in configurations.
const Name = "standard-retail"

// The names under which the product's implementations are registered.
const (
	ImplFreight         = Name + ".freight"
	ImplMemberPrice     = Name + ".member-price"
	ImplShippingAddress = Name + ".shipping-address"
	ImplMethods         = Name + ".methods"
)

// Priority of the product's bindings, unless an identity's ProductRef says
// otherwise.
const Priority = 10

// PaymentTimeout of unpaid orders, unless the identity sets one.
const PaymentTimeout = 30 * time.Minute

// DefaultMethods returns the payment methods offered when the binding's
// arguments name none: card, then cash on delivery.
func DefaultMethods() []string { return []string{"card", "cod"} }

// Lifecycle returns the patch that derives the product's lifecycle from the
// default graph: no review, so pay leads straight to pending_outbound.
//
//	created → pending_payment → pending_outbound → pending_inbound → completed
//
// with cancelled, payment_failed, outbound_failed and inbound_failed as ends.
func Lifecycle() *lifecycle.Patch {
	return &lifecycle.Patch{
		Name:         "retail",
		RemoveStates: []string{lifecycle.PendingReview, lifecycle.Rejected},
		Retarget:     map[string]string{lifecycle.EventPay: lifecycle.PendingOutbound},
	}
}

// Product returns the product. Its lifecycle is the default graph with
// Lifecycle applied: Product.Lifecycle is set to the default graph, so the
// patch always applies to the graph it was written for, whatever the
// lower-priority products of an identity did (two products that each patch
// the default would otherwise trip over each other's removals). The
// consequence is that the lifecycle of an identity enabling this product
// and another that sets a lifecycle is the higher-priority product's, and
// at equal priority the kernel reports the clash.
func Product() kernel.Product {
	return kernel.Product{
		Name:    Name,
		Version: "1",
		Doc: "Physical goods for consumers: pay, then outbound, then inbound, with no review step; freight by template " +
			"(by weight by default), a shipping region required, card or cash on delivery, member prices for identities " +
			"that configure them.",
		Priority: Priority,
		Bindings: []kernel.Binding{
			{Point: delivery.Freight.Spec().Name, Impl: ImplFreight, Args: argsOf(DefaultFreightTemplate())},
			{Point: pricing.Adjust.Spec().Name, Impl: ImplMemberPrice, Args: argsOf(pricing.DefaultMemberPrice())},
			{Point: order.Validate.Spec().Name, Impl: ImplShippingAddress},
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
		delivery.TemplateFreight(ImplFreight).
			WithDoc("Freight by the identity's freight template (delivery.Template), by default by weight: 800 for the " +
				"first kilogram, 200 per started kilogram above it, free from a subtotal of 9900 after discounts."),
		pricing.MemberPriceImpl(ImplMemberPrice).
			WithDoc("Member prices for buyers whose \"tags\" attribute holds the configured tag: the SKU's member price, " +
				"else the unit price × basisPoints / 10000 rounded half up. The default arguments change nothing; " +
				"identities opt in with {\"tag\", \"basisPoints\", \"prices\"}."),
		order.Validate.Impl(ImplShippingAddress, ShippingAddress).WithVersion("1").
			WithDoc("Denies (address_required) an order with a physical line and no shipping region."),
		payment.Methods.Factory(ImplMethods, NewMethods).WithVersion("1").
			WithDoc("Offers the configured payment methods, card and cash on delivery by default. Args {\"methods\": [...]}."),
	}
}

// argsOf renders a binding's arguments. The values are plain structs of
// numbers, strings, slices and maps, which always marshal.
func argsOf(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("standardretail: arguments do not marshal: " + err.Error())
	}
	return b
}
