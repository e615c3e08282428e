package promotion

import (
	"context"
	"slices"
	"strings"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// Defaults are the domain's platform defaults, reading book. With a Book,
// promotion.candidates offers the Book's promotions (Book.Offer) and
// promotion.stack stacks the groups in the Book's group order. With a nil
// Book there are no promotions (promotion.candidates has no default) and
// groups stack alphabetically: BestPerGroup.
func Defaults(book *Book) []kernel.Implementation {
	if book == nil {
		return []kernel.Implementation{BestPerGroup}
	}
	offer := Candidates.Impl("promotion.book", func(_ context.Context, req extensions.PromotionRequest) (extensions.Candidates, error) {
		return extensions.Candidates{Items: book.Offer(req)}, nil
	}).WithVersion("1").WithDoc("Offers every enabled promotion of the promotion book whose conditions the order meets; " +
		"coupon-backed ones only for the order's checked coupons.")
	stack := Stack.Impl(bestPerGroupName, func(_ context.Context, req extensions.StackRequest) (extensions.Stack, error) {
		return stackGroups(req, book.snap.Load().rank), nil
	}).WithVersion(bestPerGroupVersion).WithDoc(bestPerGroupDoc)
	return []kernel.Implementation{offer, stack}
}

const (
	bestPerGroupName    = "promotion.best-per-group"
	bestPerGroupVersion = "2"
	bestPerGroupDoc     = "Groups stack in the declared order (then alphabetically); within a group the largest discount " +
		"on what earlier groups left wins; capped at the subtotal."
)

// BestPerGroup is the platform default of promotion.stack without a Book
// (see Defaults): groups stack alphabetically.
//
// The default stacker applies the exclusion groups one after the other: the
// Book's declared groups in their order, then the undeclared ones
// alphabetically. Within a group, every candidate is re-evaluated on what
// the groups before it left of the order (see below) and the best deal for
// the buyer wins: the largest discount; on equal discounts one that grants
// free shipping (free shipping is valued at zero, since freight is computed
// after stacking: put free-shipping promotions in a group of their own so
// that they stack with money off); then the smaller ID. A candidate that is
// left with no discount and no free shipping does not apply.
//
// What earlier groups left: every order line starts at unit price ×
// quantity (an order without lines is one line of the subtotal). An applied
// discount is spread over its candidate's lines (Candidate.SKUs, every line
// when empty) in proportion to what is left of them, rounded down per line,
// the remainder taken from the first lines that still have something left.
// A later candidate is then re-evaluated on what is left of its lines:
// a threshold (Candidate.Threshold) must still be met; a percentage
// (Candidate.BasisPoints) is recomputed per line, rounded down; a
// per-multiple discount (Candidate.PerMultiple) counts the multiples again;
// a proportional one (buy N pay M) shrinks with its lines; and no discount
// is ever more than it was offered with or than what is left of its lines.
// Applied candidates carry the discount they contribute, in the order they
// were applied; the total never exceeds the subtotal.
var BestPerGroup = Stack.Impl(bestPerGroupName, func(_ context.Context, req extensions.StackRequest) (extensions.Stack, error) {
	return stackGroups(req, nil), nil
}).WithVersion(bestPerGroupVersion).WithDoc(bestPerGroupDoc)

// Offer evaluates the Book's current promotions against an order, at the
// Book's clock, without touching the database: every enabled promotion of
// the order's currency whose conditions hold and whose budget is not
// exhausted gives a candidate "promo:<id>", or, if it is coupon-backed,
// one candidate "coupon:<code>" per code of req.Coupons that
// req.CouponPromotions maps to it. Candidates come sorted by ID.
func (b *Book) Offer(req extensions.PromotionRequest) []extensions.Candidate {
	s := b.snap.Load()
	now := b.clock()
	var out []extensions.Candidate
	for _, r := range s.rules {
		if r.p.CouponRequired || s.isExhausted(r.p.ID) || !r.matchesOrder(&req, now) {
			continue
		}
		if c, ok := r.candidate(&req, PromoPrefix+r.p.ID); ok {
			out = append(out, c)
		}
	}
	var coupons []extensions.Candidate
	for code, id := range req.CouponPromotions {
		r := s.byID[id]
		if r == nil || !r.p.CouponRequired || !slices.Contains(req.Coupons, code) || s.isExhausted(id) || !r.matchesOrder(&req, now) {
			continue
		}
		if c, ok := r.candidate(&req, CouponPrefix+code); ok {
			coupons = append(coupons, c)
		}
	}
	slices.SortFunc(coupons, func(a, b extensions.Candidate) int { return strings.Compare(a.ID, b.ID) })
	return append(coupons, out...)
}

func (s *snapshot) isExhausted(id string) bool {
	_, ok := s.exhausted[id]
	return ok
}

// stackGroups is the default stacker (see BestPerGroup), with the declared
// group ranks.
func stackGroups(req extensions.StackRequest, rank map[string]int) extensions.Stack {
	lines := newLeftover(req.Order)
	byGroup := map[string][]extensions.Candidate{}
	for _, c := range req.Candidates {
		if c.Discount < 0 {
			continue
		}
		byGroup[c.Group] = append(byGroup[c.Group], c)
	}
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	groupOrder(groups, rank)
	out := extensions.Stack{Applied: []extensions.Candidate{}}
	for _, g := range groups {
		var (
			best    extensions.Candidate
			bestIdx []int
			found   bool
		)
		for _, c := range byGroup[g] {
			idx := lines.of(c.SKUs)
			d, free := lines.effective(c, idx)
			if d == 0 && !free {
				continue
			}
			c.Discount, c.FreeShipping = d, free
			if !found || better(c, best) {
				best, bestIdx, found = c, idx, true
			}
		}
		if !found {
			continue
		}
		lines.take(best.Discount, bestIdx)
		out.Applied = append(out.Applied, best)
		out.Discount = addSat(out.Discount, best.Discount)
		out.FreeShipping = out.FreeShipping || best.FreeShipping
	}
	out.Discount = min(out.Discount, max(req.Order.Subtotal.Amount, 0))
	return out
}

// better reports whether a is a better deal than b: more money off, then
// free shipping, then the smaller ID.
func better(a, b extensions.Candidate) bool {
	if a.Discount != b.Discount {
		return a.Discount > b.Discount
	}
	if a.FreeShipping != b.FreeShipping {
		return a.FreeShipping
	}
	return a.ID < b.ID
}

// leftover tracks, per order line, its amount and what applied discounts
// have left of it.
type leftover struct {
	amount, left []int64
	bySKU        map[string][]int
}

func newLeftover(o extensions.PromotionRequest) *leftover {
	l := &leftover{bySKU: map[string][]int{}}
	if len(o.Lines) == 0 {
		a := max(o.Subtotal.Amount, 0)
		l.amount, l.left = []int64{a}, []int64{a}
		return l
	}
	for i, line := range o.Lines {
		a := lineAmount(line)
		l.amount = append(l.amount, a)
		l.left = append(l.left, a)
		l.bySKU[line.SKU] = append(l.bySKU[line.SKU], i)
	}
	return l
}

// of returns the lines of skus, in line order; every line when skus is
// empty.
func (l *leftover) of(skus []string) []int {
	if len(skus) == 0 {
		idx := make([]int, len(l.left))
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	var idx []int
	for _, s := range skus {
		for _, i := range l.bySKU[s] {
			if !slices.Contains(idx, i) {
				idx = append(idx, i)
			}
		}
	}
	slices.Sort(idx)
	return idx
}

// effective re-evaluates a candidate on what is left of its lines.
func (l *leftover) effective(c extensions.Candidate, idx []int) (int64, bool) {
	var base, orig int64
	for _, i := range idx {
		base = addSat(base, l.left[i])
		orig = addSat(orig, l.amount[i])
	}
	if c.Threshold > 0 && base < c.Threshold {
		return 0, false
	}
	d := c.Discount
	if c.BasisPoints > 0 {
		var p int64
		for _, i := range idx {
			p = addSat(p, mulDiv(l.left[i], c.BasisPoints, 10000))
		}
		d = min(d, p)
	}
	if c.Threshold > 0 && c.PerMultiple > 0 {
		d = min(d, mulSat(c.PerMultiple, base/c.Threshold))
	}
	if c.Proportional && base < orig {
		d = mulDiv(d, base, orig)
	}
	return min(d, base), c.FreeShipping
}

// take spreads d over the lines idx in proportion to what is left of them,
// rounded down, the remainder from the first lines with something left.
// d is at most what is left of them.
func (l *leftover) take(d int64, idx []int) {
	var base int64
	for _, i := range idx {
		base = addSat(base, l.left[i])
	}
	if d <= 0 || base <= 0 {
		return
	}
	share := make([]int64, len(idx))
	rest := d
	for k, i := range idx {
		share[k] = mulDiv(d, l.left[i], base)
		rest -= share[k]
	}
	for k, i := range idx {
		if rest <= 0 {
			break
		}
		extra := min(rest, l.left[i]-share[k])
		share[k] += extra
		rest -= extra
	}
	for k, i := range idx {
		l.left[i] -= share[k]
	}
}
