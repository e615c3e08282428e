package standardretail

import (
	"github.com/tmf-platform/tmf/domains/delivery"
)

// DefaultTemplateName names the product's default freight template; it is
// what Freight.Template reports for an order charged by it.
const DefaultTemplateName = Name + ".weight"

// DefaultFreightTemplate is the freight template standard-retail binds at
// delivery.freight (implementation standard-retail.freight) unless an
// identity gives its own: by weight, the same for every region, free from a
// subtotal of 9900 after discounts.
//
//	{"name": "standard-retail.weight", "basis": "weight", "freeAbove": 9900,
//	 "default": {"first": 800, "firstUnits": 1000, "additional": 200, "additionalUnits": 1000}}
//
// The first kilogram costs 800 (also for an order whose physical lines
// declare no weight) and every started kilogram above it 200: 1001 g pays
// 1000, 2000 g 1000, 2001 g 1200. Virtual lines weigh nothing, and an
// order without a physical line pays 0. Amounts are minor units of the
// order's currency; the template names none, so it serves any currency.
// An identity that gives its own template replaces this one whole (see
// delivery.Template for the fields, regional rates among them).
func DefaultFreightTemplate() delivery.Template {
	return delivery.Template{
		Name:      DefaultTemplateName,
		Basis:     delivery.BasisWeight,
		Default:   &delivery.Rate{First: 800, FirstUnits: 1000, Additional: 200, AdditionalUnits: 1000},
		FreeAbove: 9900,
	}
}
