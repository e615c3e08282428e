package order

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/store"
)

// CodePurchaseLimit refuses an order that would take its buyer past a
// purchase limit of its identity (HTTP 409). Fields: limitName, scope,
// sku or category (when the limit counts per SKU or category), window,
// limit (the limit's max), used (what the buyer has bought in the window)
// and requested (what the order adds).
const CodePurchaseLimit = "purchase_limit_exceeded"

// purchaseClaims are the counters an order increments under the limits of
// its identity, in the measure of each limit: line quantities, or line
// totals after the line's share of the discount. A limit per order is
// checked here, counting nothing; a period limit outside its period does
// not apply.
func purchaseClaims(limits []kernel.EffectiveLimit, buyerID string, lines []extensions.Line, net []int64, currency string, now time.Time) ([]store.PurchaseClaim, error) {
	var claims []store.PurchaseClaim
	for _, l := range limits {
		window := ""
		switch l.Window {
		case kernel.LimitWindowDay:
			window = "day:" + now.UTC().Format(time.DateOnly)
		case kernel.LimitWindowPeriod:
			if now.Before(*l.From) || !now.Before(*l.To) {
				continue
			}
			window = fmt.Sprintf("period:%d", l.From.Unix())
		case kernel.LimitWindowLifetime:
			window = "lifetime"
		}
		if l.Measure == kernel.LimitMeasureAmount && l.Currency != currency {
			continue
		}
		sums := map[string]int64{}
		var keys []string
		for i, line := range lines {
			if len(l.SKUs) > 0 && !contains(l.SKUs, line.SKU) || len(l.Categories) > 0 && !contains(l.Categories, line.Category) {
				continue
			}
			key := "identity"
			switch l.Scope {
			case kernel.LimitScopeSKU:
				key = "sku:" + line.SKU
			case kernel.LimitScopeCategory:
				key = "category:" + line.Category
			}
			amount := line.Quantity
			if l.Measure == kernel.LimitMeasureAmount {
				amount = net[i]
			}
			if _, ok := sums[key]; !ok {
				keys = append(keys, key)
			}
			sums[key] += amount
		}
		for _, key := range keys {
			c := store.PurchaseClaim{LimitKey: string(l.Origin) + "/" + l.Name, BuyerID: buyerID, ScopeKey: key,
				Window: cmpOr(window, "order"), Amount: sums[key], Max: l.Max}
			if l.Window == kernel.LimitWindowOrder {
				if c.Amount > c.Max {
					return nil, limitError(&store.PurchaseLimitError{Claim: c, Used: 0, Requested: c.Amount})
				}
				continue
			}
			claims = append(claims, c)
		}
	}
	return claims, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// claimStep counts an order's claims in its transaction.
func claimStep(orderID string, claims []store.PurchaseClaim, now time.Time) store.Step {
	return func(ctx context.Context, tx *gorm.DB) error {
		return store.ClaimPurchases(ctx, tx, orderID, claims, now)
	}
}

// releaseStep gives back what an order counted, once.
func releaseStep(orderID string) store.Step {
	return func(ctx context.Context, tx *gorm.DB) error {
		return store.ReleasePurchases(ctx, tx, orderID, time.Now())
	}
}

// limitError maps a store refusal to the service's purchase_limit_exceeded.
func limitError(e *store.PurchaseLimitError) *Error {
	name := e.Claim.LimitKey
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	fields := map[string]any{"limitName": name, "window": e.Claim.Window, "limit": e.Claim.Max, "used": e.Used, "requested": e.Requested}
	scope, value, _ := strings.Cut(e.Claim.ScopeKey, ":")
	fields["scope"] = scope
	what := "this business"
	if value != "" {
		fields[scope] = value
		what = scope + " " + value
	}
	return &Error{Code: CodePurchaseLimit, Fields: fields, Err: e,
		Message: fmt.Sprintf("purchase limit %s: you may buy at most %d of %s (%s); you have %d, this order adds %d",
			name, e.Claim.Max, what, e.Claim.Window, e.Used, e.Requested)}
}

// purchaseLimitError maps a placement error that is a limit refusal.
func purchaseLimitError(err error) (*Error, bool) {
	var e *store.PurchaseLimitError
	if errors.As(err, &e) {
		return limitError(e), true
	}
	return nil, false
}
