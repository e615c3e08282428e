package extensions

import (
	"reflect"
	"sort"
)

// The names of the platform's extension points. A point name is namespaced by
// its domain and reads as a path. The catalogue (docs/extension-points.md)
// documents each one: its reducer, failure policy, deadline and types.
const (
	// OrderValidate decides whether an order may be placed (all-pass).
	OrderValidate = "order.validate"
	// OrderGuard decides whether a lifecycle transition may happen (all-pass).
	OrderGuard = "order.guard"
	// OrderSplit gives each line of an order a split key: lines of different
	// keys become different sub-orders of one parent (first).
	OrderSplit = "order.split"
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
	// FulfilmentDispatch hands a paid order to its supplier (first). Since
	// protocol 1.3.
	FulfilmentDispatch = "fulfilment.dispatch"
	// FulfilmentQuery asks the supplier what became of an order (first).
	// Since protocol 1.3.
	FulfilmentQuery = "fulfilment.query"
)

// PointTypes names the request and response types of a point, as the Go
// type names of this package ("PriceSheet"). A manifest states them, so the
// platform can refuse a bizpack built against types it does not have.
type PointTypes struct {
	Point    string `json:"point"`
	Request  string `json:"request"`
	Response string `json:"response"`
}

// pointTypes is the table of every point this version of the contract
// knows, with its Go types.
var pointTypes = map[string][2]reflect.Type{
	OrderValidate:       {reflect.TypeFor[ValidateRequest](), reflect.TypeFor[Verdict]()},
	OrderGuard:          {reflect.TypeFor[GuardRequest](), reflect.TypeFor[Verdict]()},
	OrderSplit:          {reflect.TypeFor[SplitRequest](), reflect.TypeFor[Split]()},
	PricingAdjust:       {reflect.TypeFor[PriceSheet](), reflect.TypeFor[PriceSheet]()},
	PromotionCandidates: {reflect.TypeFor[PromotionRequest](), reflect.TypeFor[Candidates]()},
	PromotionStack:      {reflect.TypeFor[StackRequest](), reflect.TypeFor[Stack]()},
	StockRouteWarehouse: {reflect.TypeFor[RouteRequest](), reflect.TypeFor[Route]()},
	PaymentMethods:      {reflect.TypeFor[PaymentMethodsRequest](), reflect.TypeFor[PaymentMethodList]()},
	DeliveryRequired:    {reflect.TypeFor[DeliveryRequest](), reflect.TypeFor[DeliveryRequirement]()},
	DeliveryFreight:     {reflect.TypeFor[DeliveryRequest](), reflect.TypeFor[Freight]()},
	FulfilmentDispatch:  {reflect.TypeFor[FulfilmentRequest](), reflect.TypeFor[FulfilmentAnswer]()},
	FulfilmentQuery:     {reflect.TypeFor[FulfilmentRequest](), reflect.TypeFor[FulfilmentAnswer]()},
}

// Points lists every point of this version of the contract with its types,
// sorted by name.
func Points() []PointTypes {
	out := make([]PointTypes, 0, len(pointTypes))
	for name, t := range pointTypes {
		out = append(out, PointTypes{Point: name, Request: t[0].Name(), Response: t[1].Name()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Point < out[j].Point })
	return out
}

// TypesOf returns the types of a point this contract knows.
func TypesOf(point string) (PointTypes, bool) {
	t, ok := pointTypes[point]
	if !ok {
		return PointTypes{}, false
	}
	return PointTypes{Point: point, Request: t[0].Name(), Response: t[1].Name()}, true
}

// PointGoTypes returns the Go types of a point's request and response, for
// tools that describe the contract (the JSON Schemas in extensions/schema
// are generated from them).
func PointGoTypes(point string) (request, response reflect.Type, ok bool) {
	t, ok := pointTypes[point]
	return t[0], t[1], ok
}
