package extensions

// The names of the platform's extension points. A point name is namespaced by
// its domain and reads as a path. The catalogue (docs/extension-points.md)
// documents each one: its reducer, failure policy, deadline and types.
const (
	// OrderValidate decides whether an order may be placed (all-pass).
	OrderValidate = "order.validate"
	// OrderGuard decides whether a lifecycle transition may happen (all-pass).
	OrderGuard = "order.guard"
	// PricingAdjust transforms the priced lines of an order (pipeline).
	PricingAdjust = "pricing.adjust"
	// PromotionCandidates gathers the promotions that could apply (collect).
	PromotionCandidates = "promotion.candidates"
	// PromotionStack chooses which candidates apply together (first).
	PromotionStack = "promotion.stack"
	// StockRouteWarehouse chooses the location that ships an order (first).
	StockRouteWarehouse = "stock.route_warehouse"
	// PaymentMethods lists the payment methods offered for an order (first).
	PaymentMethods = "payment.methods"
	// DeliveryRequired says whether an order is shipped at all (first).
	DeliveryRequired = "delivery.required"
	// DeliveryFreight computes the freight charge of an order (first).
	DeliveryFreight = "delivery.freight"
)
