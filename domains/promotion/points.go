package promotion

import (
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// Candidates gathers the promotions and coupons that could apply to an order.
var Candidates = kernel.DeclareCollect[extensions.PromotionRequest, extensions.Candidates](extensions.PromotionCandidates, kernel.Options{
	Doc: "Gathers the promotions and coupons that could apply to a priced order. Every implementation runs; each returns " +
		"its candidates with an exclusion group and the discount in minor units, and may say how the discount depends on " +
		"its lines (SKUs, basis points, threshold) so that the stacker can recompute it. A coupon-backed candidate is " +
		"offered only for a code the platform checked (PromotionRequest.CouponPromotions). The default offers the promotion " +
		"book's rules. A failing source is left out rather than failing the order.",
	Policy:   kernel.Skip,
	Deadline: 50 * time.Millisecond,
})

// Stack chooses which candidates apply together.
var Stack = kernel.DeclareFirst[extensions.StackRequest, extensions.Stack](extensions.PromotionStack, kernel.Options{
	Doc: "Chooses which of the gathered candidates apply together and the total discount. At most one candidate of each " +
		"exclusion group applies. The default applies the groups in the declared order (then alphabetically), recomputes " +
		"each group's candidates on what the earlier groups left and keeps the best deal; applied candidates carry the " +
		"discount they contribute, and the discount never exceeds the subtotal.",
	Policy:   kernel.Fallback,
	Deadline: 20 * time.Millisecond,
})

// Points lists the domain's extension points.
func Points() []kernel.Point { return []kernel.Point{Candidates, Stack} }
