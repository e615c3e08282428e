package kernel

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/identity"
)

// PurchaseLimit (限购, reference 004 §4.2.2) caps what one buyer may buy of
// an identity's orders within a time window. It is configuration of the
// identity (IdentitySpec.PurchaseLimits), so it is versioned with the
// configuration revisions. The platform enforces it exactly, in the
// order's own transaction (see platform/order and store.ClaimPurchases).
type PurchaseLimit struct {
	// Name identifies the limit within its identity: 1 to 64 of a-z 0-9
	// _ -. The buyer's counters are keyed by the identity and this name, so
	// changing Max keeps what buyers have bought; renaming starts afresh.
	Name string `json:"name"`
	// Scope is what is counted separately: "sku" (each SKU on its own),
	// "category" (each SKU category on its own) or "identity" (every line
	// of the identity's orders together).
	Scope string `json:"scope"`
	// SKUs and Categories, when set, restrict the limit to lines of these
	// SKUs or categories; empty counts every line.
	SKUs       []string `json:"skus,omitempty"`
	Categories []string `json:"categories,omitempty"`
	// Window is "order" (per order, nothing is counted across orders),
	// "day" (the UTC calendar day of the order), "period" (From to To;
	// orders outside the period are not limited) or "lifetime".
	Window string     `json:"window"`
	From   *time.Time `json:"from,omitempty"`
	To     *time.Time `json:"to,omitempty"`
	// Per is whose purchases are counted together: "buyer" (each buyer on
	// their own; the default), "org" (the buyers of one organisation node
	// together; a buyer with no node is counted on their own) or
	// "attr:<name>" (the orders that carry one value of the order
	// attribute <name> together, whoever pays: a top-up's phone number).
	// The attribute must be declared for every identity the limit binds
	// and required there, or the configuration is refused.
	Per string `json:"per,omitempty"`
	// Max is the most one buyer (or org, or attribute value) may buy in
	// the window; at least 1.
	Max int64 `json:"max"`
	// Measure is "quantity" (units; the default) or "amount" (what the
	// lines cost after discounts, in minor units of Currency; lines in
	// another currency are not counted).
	Measure  string `json:"measure,omitempty"`
	Currency string `json:"currency,omitempty"`
}

// Windows, scopes and measures of a PurchaseLimit.
const (
	LimitWindowOrder    = "order"
	LimitWindowDay      = "day"
	LimitWindowPeriod   = "period"
	LimitWindowLifetime = "lifetime"

	LimitScopeSKU      = "sku"
	LimitScopeCategory = "category"
	LimitScopeIdentity = "identity"

	LimitMeasureQuantity = "quantity"
	LimitMeasureAmount   = "amount"

	LimitPerBuyer = "buyer"
	LimitPerOrg   = "org"
	// LimitPerAttrPrefix starts a Per that names an order attribute:
	// "attr:phone".
	LimitPerAttrPrefix = "attr:"
)

// PerAttribute is the order attribute a limit counts per ("phone" for
// "attr:phone"), or "" when it counts per buyer or org.
func (l PurchaseLimit) PerAttribute() string {
	name, ok := strings.CutPrefix(l.Per, LimitPerAttrPrefix)
	if !ok {
		return ""
	}
	return name
}

// MaxPurchaseLimits is the most limits one identity configures.
const MaxPurchaseLimits = 16

var (
	limitName     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	attributeName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]*$`)
)

// EffectiveLimit is a limit in force for an identity and the identity whose
// configuration set it (its counters are keyed by that identity).
type EffectiveLimit struct {
	PurchaseLimit
	Origin identity.Code `json:"origin"`
}

// PurchaseLimits are the limits in force for the identity: its own and its
// ancestors' (a descendant cannot escape an ancestor's limit); a limit of a
// nearer identity replaces an ancestor's of the same name. Sorted by origin
// then name. The slice must not be changed.
func (p *Plan) PurchaseLimits() []EffectiveLimit { return p.limits }

// check reports every problem of one limit.
func (l PurchaseLimit) check() []string {
	var problems []string
	at := fmt.Sprintf("purchase limit %q", l.Name)
	if !limitName.MatchString(l.Name) {
		problems = append(problems, at+": a name is 1 to 64 of a-z 0-9 _ -")
	}
	switch l.Scope {
	case LimitScopeSKU, LimitScopeCategory, LimitScopeIdentity:
	default:
		problems = append(problems, fmt.Sprintf("%s: scope %q must be sku, category or identity", at, l.Scope))
	}
	switch l.Window {
	case LimitWindowOrder, LimitWindowDay, LimitWindowLifetime:
		if l.From != nil || l.To != nil {
			problems = append(problems, at+": from and to belong to the period window")
		}
	case LimitWindowPeriod:
		if l.From == nil || l.To == nil || !l.From.Before(*l.To) {
			problems = append(problems, at+": a period needs from before to")
		}
	default:
		problems = append(problems, fmt.Sprintf("%s: window %q must be order, day, period or lifetime", at, l.Window))
	}
	if l.Max < 1 {
		problems = append(problems, at+": max must be at least 1")
	}
	switch l.Measure {
	case "", LimitMeasureQuantity:
		if l.Currency != "" {
			problems = append(problems, at+": currency belongs to the amount measure")
		}
	case LimitMeasureAmount:
		if len(l.Currency) != 3 {
			problems = append(problems, at+": the amount measure needs a currency (an ISO 4217 code)")
		}
	default:
		problems = append(problems, fmt.Sprintf("%s: measure %q must be quantity or amount", at, l.Measure))
	}
	switch {
	case l.Per == "", l.Per == LimitPerBuyer, l.Per == LimitPerOrg:
	case strings.HasPrefix(l.Per, LimitPerAttrPrefix):
		if name := l.PerAttribute(); len(name) > extensions.MaxAttributeName || !attributeName.MatchString(name) {
			problems = append(problems, fmt.Sprintf("%s: per %q: an attribute name is 1 to %d of a-z A-Z 0-9 _, starting with a letter",
				at, l.Per, extensions.MaxAttributeName))
		}
	default:
		problems = append(problems, fmt.Sprintf("%s: per %q must be buyer, org or attr:<attribute name>", at, l.Per))
	}
	if len(l.SKUs) > 1000 || len(l.Categories) > 1000 {
		problems = append(problems, at+": at most 1000 SKUs and 1000 categories")
	}
	return problems
}

// purchaseLimits gathers the limits of an identity's chain (see
// Plan.PurchaseLimits), reporting each identity's malformed limits as
// problems of kind "purchase_limits".
func (c *compiler) purchaseLimits(code identity.Code) []EffectiveLimit {
	byName := map[string]EffectiveLimit{}
	for _, link := range slices.Backward(code.Chain()) {
		spec := c.byCode[link]
		if spec == nil {
			continue
		}
		if len(spec.PurchaseLimits) > MaxPurchaseLimits {
			c.problem(link, "", "purchase_limits", "identity %s has %d purchase limits, at most %d", link, len(spec.PurchaseLimits), MaxPurchaseLimits)
		}
		seen := map[string]bool{}
		for _, l := range spec.PurchaseLimits {
			if problems := l.check(); len(problems) > 0 {
				for _, p := range problems {
					c.problem(link, "", "purchase_limits", "%s", p)
				}
				continue
			}
			if seen[l.Name] {
				c.problem(link, "", "purchase_limits", "purchase limit %q is configured twice", l.Name)
				continue
			}
			seen[l.Name] = true
			byName[l.Name] = EffectiveLimit{PurchaseLimit: l, Origin: link}
		}
	}
	if len(byName) == 0 {
		return nil
	}
	out := make([]EffectiveLimit, 0, len(byName))
	for _, l := range byName {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b EffectiveLimit) int {
		if a.Origin != b.Origin {
			if a.Origin < b.Origin {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// limitAttributes reports, as problems of kind "purchase_limits", each
// limit in force for the identity that counts per an order attribute the
// identity does not declare, or declares but does not require: its orders
// could then not all be counted.
func (c *compiler) limitAttributes(code identity.Code, limits []EffectiveLimit, attrs map[string]extensions.DeclaredAttribute) {
	for _, l := range limits {
		name := l.PerAttribute()
		if name == "" {
			continue
		}
		d, ok := attrs[name]
		switch {
		case !ok:
			c.problem(code, "", "purchase_limits", "purchase limit %q (of %s) counts per order attribute %q, which identity %s does not declare (declare it in a product or bound bizpack)",
				l.Name, l.Origin, name, code)
		case !d.Required:
			c.problem(code, "", "purchase_limits", "purchase limit %q (of %s) counts per order attribute %q, which %s declares for identity %s but does not require",
				l.Name, l.Origin, name, d.Source, code)
		}
	}
}
