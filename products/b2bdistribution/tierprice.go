package b2bdistribution

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// TierPrice is b2b-distribution.tier-price, at pricing.adjust, configured by
// the binding's arguments {"attr": "agentLevel", "basisPoints": {"1": 9000,
// "2": 9500}}: the buyer's level is Buyer.Attrs[Attr], and a level listed in
// BasisPoints pays that many ten-thousandths of the list price.
//
//	unit price = round_half_up(list price × basis points / 10000)
//
// Rounding: to the minor unit, halves up (5 × 9000 / 10000 = 4.5 → 5;
// 1999 × 9500 / 10000 = 1899.05 → 1899). Prices are never negative, so half
// up and half away from zero agree. The product is computed in 128 bits, so
// no list price overflows.
//
// A buyer whose level is missing or not configured keeps list prices: the
// implementation skips (extensions.ErrSkip), leaving the sheet as it was.
// Otherwise it returns the sheet with a new Lines slice and a new
// Adjustments slice ending in "tier-price:<level>"; the sheet it was given,
// and the arrays behind its slices, are never modified.
type TierPrice struct {
	// Attr is the buyer attribute that holds the level.
	Attr string `json:"attr"`
	// BasisPoints per level, each from 0 to 10000: a tier price is never
	// above the list price.
	BasisPoints map[string]int64 `json:"basisPoints"`
}

// DefaultTierPrice is the rule used for arguments that are omitted: first
// tier agents pay 90%, second tier 95%.
func DefaultTierPrice() TierPrice {
	return TierPrice{Attr: "agentLevel", BasisPoints: map[string]int64{"1": 9000, "2": 9500}}
}

// Validate refuses a blank attribute, an empty table, a blank level and
// basis points outside 0..10000.
func (p TierPrice) Validate() error {
	if strings.TrimSpace(p.Attr) == "" {
		return fmt.Errorf("attr: the buyer attribute that holds the level is required")
	}
	if len(p.BasisPoints) == 0 {
		return fmt.Errorf("basisPoints: at least one level is required")
	}
	for _, level := range slices.Sorted(maps.Keys(p.BasisPoints)) {
		bp := p.BasisPoints[level]
		if strings.TrimSpace(level) == "" {
			return fmt.Errorf("basisPoints: blank level")
		}
		if bp < 0 || bp > 10000 {
			return fmt.Errorf("basisPoints[%q]: %d is outside 0..10000", level, bp)
		}
	}
	return nil
}

// NewTierPrice is the factory of b2b-distribution.tier-price: it decodes the
// binding's arguments strictly, taking DefaultTierPrice's value for a field
// that is omitted (a basisPoints table given replaces the default table
// whole, it is not merged into it), and validates them.
func NewTierPrice(args json.RawMessage) (kernel.Func[extensions.PriceSheet, extensions.PriceSheet], error) {
	// Pointer and nil-map fields tell "omitted" from "given": decoding into
	// a preset map would merge the given levels into the default ones.
	var a struct {
		Attr        *string          `json:"attr"`
		BasisPoints map[string]int64 `json:"basisPoints"`
	}
	if err := kernel.DecodeArgs(args, &a); err != nil {
		return nil, err
	}
	p := DefaultTierPrice()
	if a.Attr != nil {
		p.Attr = *a.Attr
	}
	if a.BasisPoints != nil {
		p.BasisPoints = a.BasisPoints
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("arguments: %w", err)
	}
	p.BasisPoints = maps.Clone(p.BasisPoints)
	return p.Adjust, nil
}

// Adjust prices one sheet (see TierPrice). A negative unit price is an
// error: pricing.adjust then fails the order.
func (p TierPrice) Adjust(_ context.Context, s extensions.PriceSheet) (extensions.PriceSheet, error) {
	level := s.Buyer.Attrs[p.Attr]
	bp, ok := p.BasisPoints[level]
	if !ok {
		return s, extensions.ErrSkip
	}
	lines := make([]extensions.Line, len(s.Lines))
	for i, l := range s.Lines {
		if l.UnitPrice < 0 {
			return s, fmt.Errorf("line %s: negative unit price %d", l.SKU, l.UnitPrice)
		}
		l.UnitPrice = ApplyBasisPoints(l.UnitPrice, bp)
		lines[i] = l
	}
	s.Lines = lines
	s.Adjustments = append(slices.Clip(s.Adjustments), "tier-price:"+level)
	return s, nil
}

// ApplyBasisPoints returns price × bp / 10000 rounded half up to the minor
// unit, for 0 ≤ price and 0 ≤ bp ≤ 10000 (the result is then at most price,
// so it cannot overflow). The product is computed in 128 bits.
func ApplyBasisPoints(price, bp int64) int64 {
	if price < 0 || bp < 0 || bp > 10000 {
		panic(fmt.Sprintf("b2bdistribution: ApplyBasisPoints(%d, %d) out of range", price, bp))
	}
	hi, lo := bits.Mul64(uint64(price), uint64(bp))
	lo, carry := bits.Add64(lo, 5000, 0)
	q, _ := bits.Div64(hi+carry, lo, 10000)
	return int64(q)
}

var _ kernel.Func[extensions.PriceSheet, extensions.PriceSheet] = TierPrice{}.Adjust
