// Package delivery is the delivery domain: whether an order ships, and what
// shipping it costs, computed locally from freight templates held in memory,
// without a remote call while ordering.
//
// Reference 003 (流程前置处理, "moving processing to the front") describes
// why: asking the logistics system for the freight of every order carries
// the ordering peak into that system. Instead, the freight templates are
// cached next to the ordering flow and the freight is computed there. Here
// the templates are configuration: the arguments of a product's binding at
// delivery.freight, which an identity may replace with its own through its
// ProductRef. The kernel compiles plans when the configuration changes, so
// a template is decoded and validated once, at compile, and an order only
// runs arithmetic on it.
//
// # Points and defaults
//
// delivery.required (first) says whether an order ships at all. The
// default, delivery.physical-lines, answers yes when any line is not
// virtual; when nothing ships, no address is needed and no freight charged.
//
// delivery.freight (first, fails closed: freight is money) computes the
// charge of an order that ships, in minor units of the order's currency.
// The default, delivery.free, charges nothing. The platform asks only when
// the order ships and no applied promotion gives free shipping, and it
// passes the subtotal after discounts.
//
// # Freight templates
//
// A Template charges by piece count or by weight in grams ("basis") of the
// order's non-virtual lines (weight is WeightGrams × Quantity per line).
// It holds rates for lists of regions (the shipping address's Region code,
// e.g. "CN-SH", matched ignoring case), and optionally a default rate for
// every other region; an order to a region that no rate lists, when there
// is no default, is refused with a *NoRateError naming the region (code
// region_not_served). A rate charges First for the first FirstUnits units
// and Additional for every started step of AdditionalUnits above them:
// with FirstUnits 1000 and AdditionalUnits 500, 1001 g pays one step and
// 1501 g two. Freight is free when the subtotal after discounts reaches
// FreeAbove (0: never); a rate may override FreeAbove for its regions. An
// order with no physical line pays 0.
//
//	{"name": "retail-cn", "basis": "weight", "freeAbove": 9900,
//	 "rates": [{"regions": ["CN-XZ", "CN-XJ"], "first": 2000, "firstUnits": 1000,
//	            "additional": 1000, "additionalUnits": 1000, "freeAbove": 0}],
//	 "default": {"first": 800, "firstUnits": 1000, "additional": 200, "additionalUnits": 1000}}
//
// Templates are decoded strictly and validated with every problem reported
// in one *TemplateError: a blank name, an unknown basis, negative amounts,
// zero units, a region listed twice. Compute charges one order by a valid
// template; NewTemplateFreight is the factory a product registers under its
// own name through TemplateFreight. Refusals while ordering are typed:
// *NoRateError, *CurrencyError (a template that names a currency other than
// the order's), *LineError (a negative quantity or weight) and
// *OverflowError.
//
// The domain keeps no tables: templates are configuration, versioned with
// the rest of it.
package delivery
