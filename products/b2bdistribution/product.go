// Package b2bdistribution is the "b2b-distribution" product (reference 004):
// agents of several tiers order stock from the brand. Orders follow the full
// distribution lifecycle, with a seller's review after payment, then
// outbound and inbound; agents get tier prices by their level, order whole
// cases, and pay on credit; a review must name a reviewer who is not the
// buyer.
//
// The package exports the product as data (Product), the implementations
// it binds (Implementations, each registered under a name prefixed with
// "b2b-distribution.") and the rules behind them, so each can be tested on
// its own.
package b2bdistribution

import (
	"encoding/json"
	"time"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/pricing"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/products/internal/paymethods"
)

// Name is the product's name in configurations.
const Name = "b2b-distribution"

// The names under which the product's implementations are registered.
const (
	ImplTierPrice = Name + ".tier-price"
	ImplReview    = Name + ".review"
	ImplCasePack  = Name + ".case-pack"
	ImplCredit    = Name + ".credit"
)

// Priority of the product's bindings, unless an identity's ProductRef says
// otherwise.
const Priority = 10

// PaymentTimeout of unpaid orders, unless the identity sets one: an agent's
// credit approval can take a while.
const PaymentTimeout = 2 * time.Hour

// DefaultMethods returns the payment methods offered when the binding's
// arguments name none: the agent's credit line.
func DefaultMethods() []string { return []string{"agent_credit"} }

// Product returns the product. Its lifecycle is the whole default
// distribution graph (reference 004 §2.2.3), set as Product.Lifecycle:
//
//	created → pending_payment → pending_review → pending_outbound → pending_inbound → completed
//
// with cancelled, payment_failed, rejected, outbound_failed and
// inbound_failed as ends.
func Product() kernel.Product {
	return kernel.Product{
		Name:    Name,
		Version: "1",
		Doc: "Distribution to agents: pay, review, outbound, inbound; tier prices by agent level, whole cases only, " +
			"credit payment, and a review by someone other than the buyer.",
		Priority: Priority,
		Bindings: []kernel.Binding{
			{Point: pricing.Adjust.Spec().Name, Impl: ImplTierPrice, Args: argsOf(DefaultTierPrice())},
			{Point: order.Guard.Spec().Name, Impl: ImplReview},
			{Point: order.Validate.Spec().Name, Impl: ImplCasePack, Args: argsOf(DefaultCasePack())},
			{Point: payment.Methods.Spec().Name, Impl: ImplCredit, Args: argsOf(paymethods.List{Methods: DefaultMethods()})},
		},
		Lifecycle:      lifecycle.Default(),
		PaymentTimeout: PaymentTimeout,
	}
}

// Implementations are the implementations the product binds, to register
// before the product.
func Implementations() []kernel.Implementation {
	return []kernel.Implementation{
		pricing.Adjust.Factory(ImplTierPrice, NewTierPrice).WithVersion("1").
			WithDoc("Unit price = list price × basis points of the buyer's level / 10000, rounded half up; buyers " +
				"without a configured level keep list price. Args {\"attr\": \"agentLevel\", \"basisPoints\": {\"1\": 9000}}."),
		order.Guard.Impl(ImplReview, Review).WithVersion("1").
			WithDoc("On approve and reject: a reviewer is required (reviewer_required) and must not be the buyer " +
				"(self_review). Skips every other event."),
		order.Validate.Factory(ImplCasePack, NewCasePack).WithVersion("1").
			WithDoc("Denies (case_pack) a line whose quantity is not a multiple of the case size. Args {\"caseSize\": 1}."),
		payment.Methods.Factory(ImplCredit, NewCredit).WithVersion("1").
			WithDoc("Offers the configured payment methods, the agent's credit by default. Args {\"methods\": [...]}."),
	}
}

// argsOf renders a binding's arguments. The values are plain structs of
// numbers, strings, slices and maps, which always marshal.
func argsOf(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("b2bdistribution: arguments do not marshal: " + err.Error())
	}
	return b
}
