package extensions

// PriceSheet is both the request and the response of pricing.adjust, a
// pipeline: each implementation receives the sheet as the implementation
// below it left it and returns it, possibly with changed unit prices.
// Implementations must not change SKUs or quantities, and must return a new
// Lines slice rather than modify the one they were given.
type PriceSheet struct {
	BizCode  string `json:"bizCode"`
	Channel  string `json:"channel,omitempty"`
	Buyer    Buyer  `json:"buyer"`
	Currency string `json:"currency"`
	// Lines carry UnitPrice: the list price on entry to the pipeline.
	Lines []Line `json:"lines"`
	// Adjustments names, in order, what changed the prices (for the trace).
	Adjustments []string `json:"adjustments,omitempty"`
	// Attributes are the order's attributes (see ValidateRequest). Since
	// protocol 1.2.
	Attributes map[string]any `json:"attributes,omitempty"`
}

// PromotionRequest is the request of promotion.candidates and the context of
// promotion.stack: the priced order.
type PromotionRequest struct {
	BizCode  string   `json:"bizCode"`
	Channel  string   `json:"channel,omitempty"`
	Buyer    Buyer    `json:"buyer"`
	Lines    []Line   `json:"lines"`
	Coupons  []string `json:"coupons,omitempty"`
	Subtotal Money    `json:"subtotal"`
	// CouponPromotions maps each coupon code of Coupons that the platform
	// has checked (it exists, is available, belongs to this buyer or to
	// nobody, has not expired and its promotion is enabled) to the ID of its
	// promotion. Coupon-backed promotions are offered only for the codes
	// listed here; an unchecked code is never a candidate.
	CouponPromotions map[string]string `json:"couponPromotions,omitempty"`
	// Attributes are the order's attributes (see ValidateRequest). Since
	// protocol 1.2.
	Attributes map[string]any `json:"attributes,omitempty"`
}

// Candidate is one promotion or coupon that could apply to an order.
type Candidate struct {
	ID string `json:"id"`
	// Group is the exclusion group: within a group only one candidate applies.
	Group string `json:"group"`
	// Discount is the amount off, in minor units of the order's currency.
	Discount     int64  `json:"discount"`
	FreeShipping bool   `json:"freeShipping,omitempty"`
	Description  string `json:"description,omitempty"`
	// PromotionID names the promotion behind the candidate, when there is
	// one (for the order's record; the platform does not trust it for
	// budgets or coupons).
	PromotionID string `json:"promotionId,omitempty"`

	// The fields below let a stacker recompute the discount on what the
	// exclusion groups stacked before this one left of the order. A
	// candidate that sets none of them is taken at its Discount, capped at
	// what is left of its lines.

	// SKUs are the order lines the candidate applies to; empty means every
	// line. A stacker spreads an applied discount over these lines.
	SKUs []string `json:"skus,omitempty"`
	// BasisPoints, when positive, makes the candidate a percentage: per line
	// of SKUs, floor(what is left of the line × BasisPoints / 10000), the
	// sum never more than Discount (which may carry a cap).
	BasisPoints int64 `json:"basisPoints,omitempty"`
	// Threshold, when positive, is what the lines of SKUs must still amount
	// to for the candidate to apply at all (spend-X-save-Y, free shipping
	// above X).
	Threshold int64 `json:"threshold,omitempty"`
	// PerMultiple, when positive (with Threshold), is the discount granted
	// for each whole multiple of Threshold the lines still amount to, the
	// total never more than Discount.
	PerMultiple int64 `json:"perMultiple,omitempty"`
	// Proportional says the discount shrinks in proportion to its lines
	// when earlier groups reduced them (the free units of buy-N-pay-M).
	Proportional bool `json:"proportional,omitempty"`
}

// Candidates is the response of one promotion.candidates implementation.
type Candidates struct {
	Items []Candidate `json:"items"`
}

// StackRequest is the request of promotion.stack: every gathered candidate.
type StackRequest struct {
	Order      PromotionRequest `json:"order"`
	Candidates []Candidate      `json:"candidates"`
}

// Stack is the response of promotion.stack: the candidates that apply, in
// the order they were applied, each with the Discount it actually
// contributes (which may be less than it was offered with, once earlier
// groups have reduced the order).
type Stack struct {
	Applied      []Candidate `json:"applied"`
	Discount     int64       `json:"discount"`
	FreeShipping bool        `json:"freeShipping,omitempty"`
}

// LocationStock is one stock location as routing sees it.
type LocationStock struct {
	Location string `json:"location"`
	// Regions the location ships to; empty means everywhere.
	Regions  []string `json:"regions,omitempty"`
	Priority int      `json:"priority"`
	// Sellable quantity per SKU at this location.
	Sellable map[string]int64 `json:"sellable"`
}

// RouteRequest is the request of stock.route_warehouse.
type RouteRequest struct {
	BizCode   string          `json:"bizCode"`
	Channel   string          `json:"channel,omitempty"`
	Region    string          `json:"region,omitempty"`
	Lines     []Line          `json:"lines"`
	Locations []LocationStock `json:"locations"`
	// Attributes are the order's attributes (see ValidateRequest). Since
	// protocol 1.2.
	Attributes map[string]any `json:"attributes,omitempty"`
}

// Route is the response of stock.route_warehouse.
type Route struct {
	Location string `json:"location"`
}

// PaymentMethodsRequest is the request of payment.methods.
type PaymentMethodsRequest struct {
	BizCode string `json:"bizCode"`
	Buyer   Buyer  `json:"buyer"`
	Total   Money  `json:"total"`
	// Attributes are the order's attributes (see ValidateRequest). Since
	// protocol 1.2.
	Attributes map[string]any `json:"attributes,omitempty"`
}

// PaymentMethodList is the response of payment.methods, preferred first.
type PaymentMethodList struct {
	Methods []string `json:"methods"`
}

// DeliveryRequest is the request of delivery.required and delivery.freight.
type DeliveryRequest struct {
	BizCode  string   `json:"bizCode"`
	Shipping *Address `json:"shipping,omitempty"`
	Lines    []Line   `json:"lines"`
	Subtotal Money    `json:"subtotal"`
	// Attributes are the order's attributes (see ValidateRequest). Since
	// protocol 1.2.
	Attributes map[string]any `json:"attributes,omitempty"`
}

// DeliveryRequirement is the response of delivery.required.
type DeliveryRequirement struct {
	Required bool `json:"required"`
}

// Freight is the response of delivery.freight.
type Freight struct {
	Amount int64 `json:"amount"`
	// Template names the freight template that produced the amount.
	Template string `json:"template,omitempty"`
}
