package promotion

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/tmf-platform/tmf/extensions"
)

// Candidate ID prefixes.
const (
	PromoPrefix  = "promo:"
	CouponPrefix = "coupon:"
)

// rule is a compiled promotion: its conditions as sets, ready to be matched
// against orders without allocating more than the candidate.
type rule struct {
	p          Promotion
	skus       map[string]bool
	categories map[string]bool
	channels   map[string]bool
	tags       map[string]bool
}

func compile(p Promotion) *rule {
	set := func(vals []string) map[string]bool {
		if len(vals) == 0 {
			return nil
		}
		m := make(map[string]bool, len(vals))
		for _, v := range vals {
			m[v] = true
		}
		return m
	}
	c := p.Conditions
	return &rule{p: p, skus: set(c.SKUs), categories: set(c.Categories), channels: set(c.Channels), tags: set(c.BuyerTags)}
}

// inWindow reports whether now is in [StartsAt, EndsAt).
func (r *rule) inWindow(now time.Time) bool {
	c := r.p.Conditions
	return (c.StartsAt == nil || !now.Before(*c.StartsAt)) && (c.EndsAt == nil || now.Before(*c.EndsAt))
}

// matchesOrder checks the order-level conditions: currency, identity,
// channel, buyer tags and the time window.
func (r *rule) matchesOrder(req *extensions.PromotionRequest, now time.Time) bool {
	if !r.p.Enabled || req.Subtotal.Currency != r.p.Currency || !r.inWindow(now) {
		return false
	}
	if ids := r.p.Conditions.Identities; len(ids) > 0 && !slices.ContainsFunc(ids, func(id string) bool { return descends(req.BizCode, id) }) {
		return false
	}
	if r.channels != nil && !r.channels[req.Channel] {
		return false
	}
	if r.tags != nil && !r.hasTag(req.Buyer.Attrs["tags"]) {
		return false
	}
	return true
}

// descends reports whether identity code equals ancestor or descends from
// it: "virtual.topup.mobile" descends from "virtual.topup" and "virtual",
// not from "virt".
func descends(code, ancestor string) bool {
	return code == ancestor || strings.HasPrefix(code, ancestor) && code[len(ancestor)] == '.'
}

func (r *rule) hasTag(tags string) bool {
	for tags != "" {
		var t string
		t, tags, _ = strings.Cut(tags, ",")
		if r.tags[strings.TrimSpace(t)] {
			return true
		}
	}
	return false
}

func (r *rule) matchesLine(l extensions.Line) bool {
	if r.skus == nil && r.categories == nil {
		return true
	}
	return r.skus[l.SKU] || r.categories[l.Category]
}

// candidate evaluates the rule against an order; false when the rule does
// not apply or gives nothing. The caller has checked matchesOrder.
func (r *rule) candidate(req *extensions.PromotionRequest, id string) (extensions.Candidate, bool) {
	var (
		lines []extensions.Line
		skus  []string
		base  int64
	)
	for _, l := range req.Lines {
		if l.Quantity <= 0 || !r.matchesLine(l) {
			continue
		}
		lines = append(lines, l)
		if !slices.Contains(skus, l.SKU) {
			skus = append(skus, l.SKU)
		}
		base = addSat(base, lineAmount(l))
	}
	if len(lines) == 0 {
		return extensions.Candidate{}, false
	}
	p := r.p.Params
	c := extensions.Candidate{ID: id, Group: r.p.Group, Description: r.p.Name, PromotionID: r.p.ID, SKUs: skus}
	switch r.p.Kind {
	case PercentOff:
		c.BasisPoints = p.BasisPoints
		c.Discount = percentOf(lines, p.BasisPoints)
		if p.MaxDiscount > 0 {
			c.Discount = min(c.Discount, p.MaxDiscount)
		}
	case AmountOff:
		c.Discount = min(p.Amount, base)
	case Threshold:
		if base < p.Threshold {
			return extensions.Candidate{}, false
		}
		c.Threshold = p.Threshold
		c.Discount = p.Amount
		if p.Repeat {
			times := base / p.Threshold
			if p.MaxRepeats > 0 {
				times = min(times, p.MaxRepeats)
			}
			c.PerMultiple = p.Amount
			c.Discount = mulSat(p.Amount, times)
		}
		c.Discount = min(c.Discount, base)
	case NForM:
		c.Proportional = true
		c.Discount = min(freeUnits(lines, p.N, p.M), base)
	case FreeShipping:
		if base < p.Threshold {
			return extensions.Candidate{}, false
		}
		c.Threshold = p.Threshold
		c.FreeShipping = true
	}
	if c.Discount <= 0 && !c.FreeShipping {
		return extensions.Candidate{}, false
	}
	return c, true
}

// percentOf is the sum over lines of floor(line amount × bp / 10000): the
// rounding is per line, down, so the discount of a line never exceeds the
// line and a 100% discount is exactly the amount.
func percentOf(lines []extensions.Line, bp int64) int64 {
	var d int64
	for _, l := range lines {
		d = addSat(d, mulDiv(lineAmount(l), bp, 10000))
	}
	return d
}

// freeUnits is the value of the free units of buy N pay M: the units ranked
// by price, dearest first (ties by SKU), taken N at a time; in each complete
// group the last N−M, which are its cheapest, are free.
func freeUnits(lines []extensions.Line, n, m int64) int64 {
	ranked := slices.Clone(lines)
	slices.SortStableFunc(ranked, func(a, b extensions.Line) int {
		return cmp.Or(cmp.Compare(b.UnitPrice, a.UnitPrice), strings.Compare(a.SKU, b.SKU))
	})
	var units int64
	for _, l := range ranked {
		units = addSat(units, l.Quantity)
	}
	full := units / n * n // positions in complete groups
	// free(x) counts the free positions among the first x of a complete run.
	free := func(x int64) int64 {
		x = min(x, full)
		return x/n*(n-m) + max(0, x%n-m)
	}
	var d, pos int64
	for _, l := range ranked {
		end := addSat(pos, l.Quantity)
		d = addSat(d, mulSat(free(end)-free(pos), l.UnitPrice))
		pos = end
	}
	return d
}

// lineAmount is unit price × quantity, saturating (the platform refuses
// orders whose lines overflow before promotions see them).
func lineAmount(l extensions.Line) int64 {
	if l.UnitPrice <= 0 || l.Quantity <= 0 {
		return 0
	}
	return mulSat(l.UnitPrice, l.Quantity)
}

// mulDiv is floor(a × b / c) for a, b >= 0 and c > 0 without overflowing
// in between; MaxInt64 when the result does not fit.
func mulDiv(a, b, c int64) int64 {
	if a <= 0 || b <= 0 || c <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

func mulSat(a, b int64) int64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

func addSat(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
