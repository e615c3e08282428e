package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/tmf-platform/tmf/extensions"
)

// Tier is what the agents of one tier get.
type Tier struct {
	// DiscountBP is the discount off list prices in basis points: 1500 is
	// 15% off. From 0 to 10000, so a tier price is never below 0 nor above
	// the list price.
	DiscountBP int64
	// CreditLimit is the most one order of the tier may amount to at tier
	// prices, in minor units of the order's currency; at least 0.
	CreditLimit int64
}

// Config is the bizpack's own configuration. The platform passes a bizpack
// no arguments, so it is compiled in: to change a tier, change
// DefaultConfig and rebuild (and bind the new binary's checksum).
type Config struct {
	// Attr is the buyer attribute (extensions.Buyer.Attrs, which the
	// platform fills from the principal's attrs) that names the agent's
	// tier.
	Attr string
	// Tiers by name, as the attribute spells them.
	Tiers map[string]Tier
	// DefaultCreditLimit is the per-order credit limit of a buyer without a
	// tier or with a tier that Tiers does not list; such a buyer pays list
	// prices. At least 0.
	DefaultCreditLimit int64
}

// DefaultConfig is the configuration the binary runs with: gold agents get
// 15% off and may order up to 10000.00 at a time, silver agents 8% off and
// 3000.00, everyone else list prices and 1000.00.
func DefaultConfig() Config {
	return Config{
		Attr: "tier",
		Tiers: map[string]Tier{
			"gold":   {DiscountBP: 1500, CreditLimit: 1_000_000},
			"silver": {DiscountBP: 800, CreditLimit: 300_000},
		},
		DefaultCreditLimit: 100_000,
	}
}

// Validate reports every problem of c: a blank attribute, a blank tier
// name, a discount outside 0..10000, a negative credit limit.
func (c Config) Validate() error {
	var problems []string
	if strings.TrimSpace(c.Attr) == "" {
		problems = append(problems, "Attr: the buyer attribute that names the tier is required")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Tiers)) {
		t := c.Tiers[name]
		if strings.TrimSpace(name) == "" {
			problems = append(problems, "Tiers: a tier has a blank name")
		}
		if t.DiscountBP < 0 || t.DiscountBP > 10000 {
			problems = append(problems, fmt.Sprintf("Tiers[%q].DiscountBP: %d is outside 0..10000", name, t.DiscountBP))
		}
		if t.CreditLimit < 0 {
			problems = append(problems, fmt.Sprintf("Tiers[%q].CreditLimit: %d is negative", name, t.CreditLimit))
		}
	}
	if c.DefaultCreditLimit < 0 {
		problems = append(problems, fmt.Sprintf("DefaultCreditLimit: %d is negative", c.DefaultCreditLimit))
	}
	if len(problems) > 0 {
		return fmt.Errorf("configuration: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Tiers implements the bizpack's points from a Config: Adjust
// (pricing.adjust) and Validate (order.validate). Both price a line the
// same way, with TierPrice, so the credit check sees the prices the agent
// will pay. A Tiers never changes after NewTiers and is safe for
// concurrent use; neither point keeps state.
type Tiers struct {
	cfg Config
}

// NewTiers validates cfg and returns the points built on a copy of it.
func NewTiers(cfg Config) (*Tiers, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Tiers = maps.Clone(cfg.Tiers)
	return &Tiers{cfg: cfg}, nil
}

// tierOf returns the buyer's tier, if Tiers lists it.
func (t *Tiers) tierOf(b extensions.Buyer) (string, Tier, bool) {
	name, ok := b.Attrs[t.cfg.Attr]
	if !ok {
		return "", Tier{}, false
	}
	tier, ok := t.cfg.Tiers[name]
	return name, tier, ok
}

// AdjustmentPrefix starts the entry Adjust appends to the sheet's
// Adjustments; the tier's name follows.
const AdjustmentPrefix = "b2b-distribution.tier:"

// Adjust is the bizpack's pricing.adjust: for a buyer whose tier Config
// lists, every line's unit price becomes TierPrice(unit price, the tier's
// discount), and "b2b-distribution.tier:<tier>" is appended to the
// Adjustments. A buyer without a listed tier keeps the prices it was given:
// Adjust skips (extensions.ErrSkip).
//
// The sheet it was given, and the arrays behind its Lines and Adjustments,
// are never modified: the answer has a new Lines slice and a new
// Adjustments slice. A negative unit price is an error (pricing.adjust then
// fails the order), as is a done ctx.
func (t *Tiers) Adjust(ctx context.Context, s extensions.PriceSheet) (extensions.PriceSheet, error) {
	if err := ctx.Err(); err != nil {
		return extensions.PriceSheet{}, err
	}
	name, tier, ok := t.tierOf(s.Buyer)
	if !ok {
		return extensions.PriceSheet{}, extensions.ErrSkip
	}
	lines := make([]extensions.Line, len(s.Lines))
	for i, l := range s.Lines {
		p, err := TierPrice(l.UnitPrice, tier.DiscountBP)
		if err != nil {
			return extensions.PriceSheet{}, fmt.Errorf("pricing.adjust: line %s: %w", l.SKU, err)
		}
		l.UnitPrice = p
		lines[i] = l
	}
	s.Lines = lines
	// Clip: appending must not write into spare capacity of the caller's array.
	s.Adjustments = append(slices.Clip(s.Adjustments), AdjustmentPrefix+name)
	return s, nil
}

// TierPrice is a unit price after a discount of discountBP basis points,
// rounded half up to the minor unit:
//
//	round_half_up(price × (10000 − discountBP) / 10000)
//
// so 10 at 15% off is 8.5 → 9, and 1999 at 15% off is 1699.15 → 1699. It is
// what the agent pays per unit; the discount per unit is price minus it.
// For 0 ≤ discountBP ≤ 10000 the result is between 0 and price, and the
// product is computed in 128 bits, so no price overflows. A negative price
// or a discount outside 0..10000 is an error.
func TierPrice(price, discountBP int64) (int64, error) {
	switch {
	case price < 0:
		return 0, fmt.Errorf("negative unit price %d", price)
	case discountBP < 0 || discountBP > 10000:
		return 0, fmt.Errorf("discount of %d basis points is outside 0..10000", discountBP)
	}
	hi, lo := bits.Mul64(uint64(price), uint64(10000-discountBP))
	lo, carry := bits.Add64(lo, 5000, 0)
	q, _ := bits.Div64(hi+carry, lo, 10000) // hi+carry < 10000: the quotient is at most price
	return int64(q), nil
}

// lineTotal is quantity × unitPrice for non-negative operands, and false
// when it does not fit in an int64.
func lineTotal(quantity, unitPrice int64) (int64, bool) {
	hi, lo := bits.Mul64(uint64(quantity), uint64(unitPrice))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	return int64(lo), true
}

var _ func(context.Context, extensions.PriceSheet) (extensions.PriceSheet, error) = (*Tiers)(nil).Adjust
