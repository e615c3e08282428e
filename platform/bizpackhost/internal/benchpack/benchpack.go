// Package benchpack is the bizpack of the placement benchmark: it
// implements every point of the placement phase with small, realistic
// logic, so the benchmark can run the same implementations in the server's
// process and as a plugin process. Like any bizpack it imports only
// extensions/.
package benchpack

import (
	"context"
	"slices"

	"github.com/tmf-platform/tmf/extensions"
)

// New returns the benchmark bizpack, built for the "retail" identity.
func New() *extensions.Bizpack {
	b := extensions.New(extensions.Manifest{Name: "bench", Version: "1.0.0", Identities: []string{"retail"},
		Points: []extensions.PointTypes{{Point: extensions.OrderValidate}, {Point: extensions.PricingAdjust},
			{Point: extensions.PromotionCandidates}, {Point: extensions.PromotionStack},
			{Point: extensions.StockRouteWarehouse}, {Point: extensions.PaymentMethods},
			{Point: extensions.DeliveryRequired}, {Point: extensions.DeliveryFreight}}})
	extensions.Implement(b, extensions.OrderValidate, func(_ context.Context, r extensions.ValidateRequest) (extensions.Verdict, error) {
		for _, l := range r.Lines {
			if l.Quantity > 100 {
				return extensions.Deny("too_many", "at most 100 of one SKU"), nil
			}
		}
		return extensions.Allow(), nil
	})
	extensions.Implement(b, extensions.PricingAdjust, func(_ context.Context, s extensions.PriceSheet) (extensions.PriceSheet, error) {
		lines := slices.Clone(s.Lines)
		for i := range lines {
			lines[i].UnitPrice -= lines[i].UnitPrice / 20 // 5% member price
		}
		s.Lines = lines
		s.Adjustments = append(slices.Clone(s.Adjustments), "bench.member-price")
		return s, nil
	})
	extensions.Implement(b, extensions.PromotionCandidates, func(_ context.Context, r extensions.PromotionRequest) (extensions.Candidates, error) {
		if r.Subtotal.Amount < 10000 {
			return extensions.Candidates{}, extensions.ErrSkip
		}
		return extensions.Candidates{Items: []extensions.Candidate{{ID: "bench-100-off", Group: "store", Discount: 100,
			Threshold: 10000, Description: "100 off above 10000"}}}, nil
	})
	extensions.Implement(b, extensions.PromotionStack, func(_ context.Context, r extensions.StackRequest) (extensions.Stack, error) {
		var st extensions.Stack
		groups := map[string]bool{}
		for _, c := range r.Candidates {
			if groups[c.Group] || c.Discount+st.Discount > r.Order.Subtotal.Amount {
				continue
			}
			groups[c.Group] = true
			st.Applied = append(st.Applied, c)
			st.Discount += c.Discount
			st.FreeShipping = st.FreeShipping || c.FreeShipping
		}
		return st, nil
	})
	extensions.Implement(b, extensions.StockRouteWarehouse, func(_ context.Context, r extensions.RouteRequest) (extensions.Route, error) {
		for _, loc := range r.Locations {
			if slices.IndexFunc(r.Lines, func(l extensions.Line) bool { return loc.Sellable[l.SKU] < l.Quantity }) < 0 {
				return extensions.Route{Location: loc.Location}, nil
			}
		}
		return extensions.Route{}, extensions.ErrSkip
	})
	extensions.Implement(b, extensions.PaymentMethods, func(_ context.Context, r extensions.PaymentMethodsRequest) (extensions.PaymentMethodList, error) {
		return extensions.PaymentMethodList{Methods: []string{"card"}}, nil
	})
	extensions.Implement(b, extensions.DeliveryRequired, func(_ context.Context, r extensions.DeliveryRequest) (extensions.DeliveryRequirement, error) {
		return extensions.DeliveryRequirement{Required: slices.ContainsFunc(r.Lines, func(l extensions.Line) bool { return !l.Virtual })}, nil
	})
	extensions.Implement(b, extensions.DeliveryFreight, func(_ context.Context, r extensions.DeliveryRequest) (extensions.Freight, error) {
		if r.Subtotal.Amount >= 50000 {
			return extensions.Freight{Template: "bench"}, nil
		}
		return extensions.Freight{Amount: 800, Template: "bench"}, nil
	})
	return b
}
