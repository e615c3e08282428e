package pricing

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// TagsAttr is the buyer attribute that holds the buyer's tags, separated by
// commas: Buyer.Attrs["tags"] = "member,newsletter".
const TagsAttr = "tags"

// MemberPrice is a rule of pricing.adjust, configured by a binding's
// arguments {"tag": "member", "basisPoints": 9500, "prices": {"SKU-1": 1200}}.
//
// A buyer who carries Tag (see HasTag) is a member. For a member, every
// line's unit price becomes
//
//   - Prices[SKU] when the SKU is listed there (a member price), else
//   - Percent(unit price, BasisPoints): the unit price it receives times
//     BasisPoints / 10000, rounded half up to the minor unit,
//
// and never more than the unit price it receives: a member price listed
// above the price the sheet already says (the list price, or what a lower
// implementation of the pipeline made of it) leaves that price. The sheet
// comes back with a new Lines slice and a new Adjustments slice ending in
// "member-price:<tag>"; SKUs and quantities are unchanged, and the sheet it
// was given, and the arrays behind its slices, are never modified.
//
// A buyer without the tag pays what the sheet says: the rule skips
// (extensions.ErrSkip) and the sheet is left as it was. An empty Tag turns
// the rule off for everyone; this is DefaultMemberPrice, so a product can
// bind the rule with arguments that change nothing and let identities opt
// in by giving their own arguments.
type MemberPrice struct {
	// Tag that makes a buyer a member; "" matches nobody.
	Tag string `json:"tag"`
	// BasisPoints of the unit price that members pay for SKUs not in
	// Prices, from 0 to 10000.
	BasisPoints int64 `json:"basisPoints"`
	// Prices are member unit prices by SKU, in minor units of the order's
	// currency, each non-negative.
	Prices map[string]int64 `json:"prices"`
}

// DefaultMemberPrice is the rule used for arguments that are omitted: no tag,
// 10000 basis points and no member prices, which changes no price.
func DefaultMemberPrice() MemberPrice {
	return MemberPrice{Tag: "", BasisPoints: BasisPointsWhole, Prices: map[string]int64{}}
}

// ArgsError is a rule's arguments that do not validate. Problems lists every
// problem found, each naming the argument, in a stable order.
type ArgsError struct {
	Rule     string
	Problems []string
}

func (e *ArgsError) Error() string {
	return fmt.Sprintf("%s: %s", e.Rule, strings.Join(e.Problems, "; "))
}

// NegativePriceError is a sheet whose line carries a negative unit price: the
// pipeline's contract is broken below, and pricing.adjust fails the order.
type NegativePriceError struct {
	SKU       string
	UnitPrice int64
}

func (e *NegativePriceError) Error() string {
	return fmt.Sprintf("line %s: negative unit price %d", e.SKU, e.UnitPrice)
}

// Validate reports every problem of the arguments in one *ArgsError: a tag
// with a comma or surrounding blanks (it could never match), basis points
// outside 0..10000, a blank SKU or a negative member price, and member
// prices or a reduction given without a tag (they would never apply).
func (m MemberPrice) Validate() error {
	var problems []string
	if strings.Contains(m.Tag, ",") || strings.TrimSpace(m.Tag) != m.Tag {
		problems = append(problems, fmt.Sprintf("tag: %q cannot match a tag of the buyer's comma-separated %q attribute", m.Tag, TagsAttr))
	}
	if m.BasisPoints < 0 || m.BasisPoints > BasisPointsWhole {
		problems = append(problems, fmt.Sprintf("basisPoints: %d is outside 0..10000", m.BasisPoints))
	}
	for _, sku := range slices.Sorted(maps.Keys(m.Prices)) {
		if strings.TrimSpace(sku) == "" {
			problems = append(problems, fmt.Sprintf("prices: blank SKU %q", sku))
		}
		if p := m.Prices[sku]; p < 0 {
			problems = append(problems, fmt.Sprintf("prices[%q]: %d must not be negative", sku, p))
		}
	}
	if m.Tag == "" && (len(m.Prices) > 0 || m.BasisPoints != BasisPointsWhole) {
		problems = append(problems, "tag: required when prices or basisPoints below 10000 are given, which otherwise never apply")
	}
	if len(problems) > 0 {
		return &ArgsError{Rule: "member-price", Problems: problems}
	}
	return nil
}

// NewMemberPrice is the factory of the member-price rule: it decodes the
// binding's arguments strictly (an unknown field, a string or fractional
// number is refused), takes DefaultMemberPrice's value for a field that is
// omitted (a prices table given replaces the default table whole), and
// validates them. It is called when plans are compiled, never per order.
func NewMemberPrice(args json.RawMessage) (kernel.Func[extensions.PriceSheet, extensions.PriceSheet], error) {
	var a struct {
		Tag         *string          `json:"tag"`
		BasisPoints *int64           `json:"basisPoints"`
		Prices      map[string]int64 `json:"prices"`
	}
	if err := kernel.DecodeArgs(args, &a); err != nil {
		return nil, err
	}
	m := DefaultMemberPrice()
	if a.Tag != nil {
		m.Tag = *a.Tag
	}
	if a.BasisPoints != nil {
		m.BasisPoints = *a.BasisPoints
	}
	if a.Prices != nil {
		m.Prices = a.Prices
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("arguments: %w", err)
	}
	m.Prices = maps.Clone(m.Prices)
	return m.Adjust, nil
}

// MemberPriceImpl returns the member-price rule as an implementation of
// pricing.adjust registered under name, for a product to bind; its
// arguments are those of NewMemberPrice.
func MemberPriceImpl(name string) kernel.Implementation {
	return Adjust.Factory(name, NewMemberPrice).WithVersion("1").
		WithDoc("Member prices: a buyer whose \"tags\" attribute holds the tag pays the SKU's member price, else the unit " +
			"price × basisPoints / 10000 rounded half up, never more than before; others keep their prices (skip). " +
			"Args {\"tag\", \"basisPoints\", \"prices\": {SKU: price}}; the empty tag changes nothing.")
}

// Adjust prices one sheet (see MemberPrice). A negative unit price on entry
// is a *NegativePriceError.
func (m MemberPrice) Adjust(_ context.Context, s extensions.PriceSheet) (extensions.PriceSheet, error) {
	if !HasTag(s.Buyer, m.Tag) {
		return s, extensions.ErrSkip
	}
	lines := make([]extensions.Line, len(s.Lines))
	for i, l := range s.Lines {
		if l.UnitPrice < 0 {
			return s, &NegativePriceError{SKU: l.SKU, UnitPrice: l.UnitPrice}
		}
		price, listed := m.Prices[l.SKU]
		if !listed {
			// bp ≤ 10000 and the price is not negative: no overflow.
			price, _ = Percent(l.UnitPrice, m.BasisPoints)
		}
		l.UnitPrice = min(price, l.UnitPrice)
		lines[i] = l
	}
	s.Lines = lines
	s.Adjustments = append(slices.Clip(s.Adjustments), "member-price:"+m.Tag)
	return s, nil
}

// HasTag reports whether the buyer's TagsAttr attribute, split at commas and
// each part trimmed of blanks, holds tag exactly (case matters). The empty
// tag is never held.
func HasTag(b extensions.Buyer, tag string) bool {
	if tag == "" {
		return false
	}
	for t := range strings.SplitSeq(b.Attrs[TagsAttr], ",") {
		if strings.TrimSpace(t) == tag {
			return true
		}
	}
	return false
}

var _ kernel.Func[extensions.PriceSheet, extensions.PriceSheet] = MemberPrice{}.Adjust
