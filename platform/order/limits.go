package order

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
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
// per (buyer, org or attr:<name>: whose purchases are counted together),
// limit (the limit's max), used (what the buyer, org or attribute value
// has bought in the window) and requested (what the order adds).
const CodePurchaseLimit = "purchase_limit_exceeded"

// purchaseClaims are the counters an order increments under the limits of
// its identity, in the measure of each limit: line quantities, or line
// totals after the line's share of the discount. A limit per order is
// checked here, counting nothing; a period limit outside its period does
// not apply. owners, when set, is the sub-order each line goes to: each
// claim is then shared over the sub-orders by their lines (see
// store.PurchaseClaim.Shares).
func purchaseClaims(limits []kernel.EffectiveLimit, buyer Buyer, attrs map[string]any, lines []extensions.Line, net []int64, owners []string, currency string, now time.Time) ([]store.PurchaseClaim, error) {
	var claims []store.PurchaseClaim
	for _, l := range limits {
		holder, err := limitHolder(l.PurchaseLimit, buyer, attrs)
		if err != nil {
			return nil, err
		}
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
		shares := map[string][]store.PurchaseShare{}
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
			if owners != nil {
				shares[key] = addShare(shares[key], owners[i], amount)
			}
		}
		for _, key := range keys {
			c := store.PurchaseClaim{LimitKey: string(l.Origin) + "/" + l.Name, BuyerID: holder, ScopeKey: key,
				Window: cmpOr(window, "order"), Amount: sums[key], Max: l.Max, Per: cmpOr(l.Per, kernel.LimitPerBuyer), Shares: shares[key]}
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

// addShare adds amount to the share of orderID.
func addShare(shares []store.PurchaseShare, orderID string, amount int64) []store.PurchaseShare {
	for i := range shares {
		if shares[i].OrderID == orderID {
			shares[i].Amount += amount
			return shares
		}
	}
	return append(shares, store.PurchaseShare{OrderID: orderID, Amount: amount})
}

// lineOwners is the sub-order each line of a placement goes to, or nil
// when it does not split.
func lineOwners(parentID string, parts []part, lines int) []string {
	if len(parts) < 2 {
		return nil
	}
	owners := make([]string, lines)
	for n, pt := range parts {
		for _, i := range pt.lines {
			owners[i] = SubOrderID(parentID, n+1)
		}
	}
	return owners
}

// maxHolderKey is the longest counter holder key (the counters' buyer_id
// column is 128 bytes).
const maxHolderKey = 128

// limitHolder is whose counter an order's claims under a limit increment
// (store.PurchaseClaim.BuyerID): the buyer id for a limit per buyer,
// "org=<node>" per org (the buyer id when the buyer has no node), and
// "attr:<name>=<value>" per attribute, the value as the attribute was
// validated and stored (extensions.AttributeText). A key longer than
// maxHolderKey bytes holds the value's SHA-256 instead: "org#<base64url>",
// "attr:<name>#<base64url>" (a node named by a token's claim may be 128
// characters long, an attribute value 1024 bytes). No buyer id contains
// "=" or "#" (principal ids and token subjects are [A-Za-z0-9._@:-]) and
// no attribute name does, so no two holders collide.
func limitHolder(l kernel.PurchaseLimit, buyer Buyer, attrs map[string]any) (string, error) {
	switch {
	case l.Per == kernel.LimitPerOrg:
		if buyer.OwnerOrg == "" {
			return buyer.ID, nil
		}
		return bounded("org", "=", buyer.OwnerOrg), nil
	case l.PerAttribute() != "":
		name := l.PerAttribute()
		v, ok := attrs[name]
		if !ok {
			// The configuration requires the attribute wherever the limit
			// binds (kernel.limitAttributes); an order without it cannot
			// be counted, so it is refused rather than let through.
			return "", refuse(CodeAttributeInvalid, map[string]any{"field": "attributes." + name, "reason": "required"},
				"attributes.%s: required (purchase limit %s counts per it)", name, l.Name)
		}
		return bounded("attr:"+name, "=", extensions.AttributeText(v)), nil
	}
	return buyer.ID, nil
}

// bounded is prefix+sep+value, or prefix+"#"+the value's SHA-256 when that
// is longer than maxHolderKey bytes.
func bounded(prefix, sep, value string) string {
	if key := prefix + sep + value; len(key) <= maxHolderKey {
		return key
	}
	sum := sha256.Sum256([]byte(value))
	return prefix + "#" + base64.RawURLEncoding.EncodeToString(sum[:])
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
	per := cmpOr(e.Claim.Per, kernel.LimitPerBuyer)
	fields := map[string]any{"limitName": name, "window": e.Claim.Window, "per": per, "limit": e.Claim.Max, "used": e.Used, "requested": e.Requested}
	scope, value, _ := strings.Cut(e.Claim.ScopeKey, ":")
	fields["scope"] = scope
	what := "this business"
	if value != "" {
		fields[scope] = value
		what = scope + " " + value
	}
	who := "you may buy"
	switch {
	case per == kernel.LimitPerOrg:
		who = "your organisation may buy"
	case strings.HasPrefix(per, kernel.LimitPerAttrPrefix):
		who = "orders with this " + strings.TrimPrefix(per, kernel.LimitPerAttrPrefix) + " may buy"
	}
	return &Error{Code: CodePurchaseLimit, Fields: fields, Err: e,
		Message: fmt.Sprintf("purchase limit %s: %s at most %d of %s (%s); %d bought, this order adds %d",
			name, who, e.Claim.Max, what, e.Claim.Window, e.Used, e.Requested)}
}

// purchaseLimitError maps a placement error that is a limit refusal.
func purchaseLimitError(err error) (*Error, bool) {
	var e *store.PurchaseLimitError
	if errors.As(err, &e) {
		return limitError(e), true
	}
	return nil, false
}
