package promotion

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// BestPerGroup is the platform default of promotion.stack: within each
// exclusion group the candidate with the largest discount applies (ties go
// to the smaller ID, so the choice is stable), the groups stack, and the
// total discount is capped at the subtotal. Free shipping applies if any
// applied candidate grants it.
var BestPerGroup = Stack.Impl("promotion.best-per-group", func(_ context.Context, req extensions.StackRequest) (extensions.Stack, error) {
	best := map[string]extensions.Candidate{}
	for _, c := range req.Candidates {
		if c.Discount < 0 {
			continue
		}
		cur, ok := best[c.Group]
		if !ok || c.Discount > cur.Discount || c.Discount == cur.Discount && c.ID < cur.ID {
			best[c.Group] = c
		}
	}
	out := extensions.Stack{Applied: make([]extensions.Candidate, 0, len(best))}
	for _, c := range best {
		out.Applied = append(out.Applied, c)
	}
	slices.SortFunc(out.Applied, func(a, b extensions.Candidate) int {
		return cmp.Or(strings.Compare(a.Group, b.Group), strings.Compare(a.ID, b.ID))
	})
	for _, c := range out.Applied {
		out.Discount += c.Discount
		out.FreeShipping = out.FreeShipping || c.FreeShipping
	}
	out.Discount = min(out.Discount, max(req.Order.Subtotal.Amount, 0))
	return out, nil
}).WithVersion("1").WithDoc("Best candidate per exclusion group; groups stack; capped at the subtotal.")

// Defaults are the domain's platform defaults. promotion.candidates has
// none: without a product or bizpack there are no promotions.
func Defaults() []kernel.Implementation { return []kernel.Implementation{BestPerGroup} }
