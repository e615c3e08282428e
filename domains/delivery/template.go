package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// Basis is what a freight template charges by.
type Basis string

const (
	// BasisCount charges by the number of pieces: the sum of the quantities
	// of the order's non-virtual lines.
	BasisCount Basis = "count"
	// BasisWeight charges by weight in grams: the sum of WeightGrams ×
	// Quantity over the order's non-virtual lines.
	BasisWeight Basis = "weight"
)

// Rate is what shipping costs to a region. First covers the first
// FirstUnits units (pieces or grams, by the template's basis), and every
// started AdditionalUnits above them costs Additional:
//
//	freight = First                                                        for units ≤ FirstUnits
//	freight = First + Additional × ceil((units − FirstUnits) / AdditionalUnits)  otherwise
//
// Rounding: the units above FirstUnits are rounded UP to whole steps of
// AdditionalUnits, so with FirstUnits 1000 and AdditionalUnits 500, 1001 g
// pays one step, 1500 g one, 1501 g two. An order whose physical lines
// weigh or count nothing pays First. Amounts are minor units of the
// order's currency.
type Rate struct {
	First           int64 `json:"first"`
	FirstUnits      int64 `json:"firstUnits"`
	Additional      int64 `json:"additional"`
	AdditionalUnits int64 `json:"additionalUnits"`
	// FreeAbove, if given, replaces the template's FreeAbove for the
	// regions of this rate (0: never free there).
	FreeAbove *int64 `json:"freeAbove,omitempty"`
}

// RegionalRate is a rate for the regions it lists: region codes as the
// shipping address carries them (extensions.Address.Region, e.g. "CN-SH"),
// matched ignoring case and surrounding blanks.
type RegionalRate struct {
	Regions []string `json:"regions"`
	Rate
}

// Template is a freight template: configuration, decoded and validated once
// when plans are compiled, then computed locally for every order with no
// remote call (reference 003, 流程前置处理: the freight templates are cached
// in the ordering system and the freight computed there).
//
//	{"name": "retail-cn", "basis": "weight",
//	 "rates": [{"regions": ["CN-XZ", "CN-XJ"], "first": 2000, "firstUnits": 1000,
//	            "additional": 1000, "additionalUnits": 1000, "freeAbove": 0}],
//	 "default": {"first": 800, "firstUnits": 1000, "additional": 200, "additionalUnits": 1000},
//	 "freeAbove": 9900}
//
// See Compute for how an order is charged.
type Template struct {
	// Name identifies the template; it is reported in Freight.Template.
	Name string `json:"name"`
	// Basis is "count" or "weight".
	Basis Basis `json:"basis"`
	// Currency, if given, is the ISO 4217 code the amounts are in; an order
	// in another currency is then refused (*CurrencyError) rather than
	// charged a number meant for another currency.
	Currency string `json:"currency,omitempty"`
	// Rates by region; a region is listed in at most one rate.
	Rates []RegionalRate `json:"rates,omitempty"`
	// Default is the rate of every region no rate lists. Without it, an
	// order to such a region is refused (*NoRateError).
	Default *Rate `json:"default,omitempty"`
	// FreeAbove is the subtotal, after discounts, from which freight is
	// free; 0 means never. A rate's own FreeAbove replaces it.
	FreeAbove int64 `json:"freeAbove,omitempty"`
}

// CodeRegionNotServed is the stable code of a *NoRateError.
const CodeRegionNotServed = "region_not_served"

// NoRateError refuses an order to a region that the template neither lists
// nor covers with a default rate: the business does not ship there.
type NoRateError struct {
	Template string
	// Region is the shipping address's region as given ("" for none).
	Region string
}

func (e *NoRateError) Error() string {
	return fmt.Sprintf("freight template %q does not ship to region %q: no rate lists it and there is no default", e.Template, e.Region)
}

// Code is CodeRegionNotServed.
func (e *NoRateError) Code() string { return CodeRegionNotServed }

// CurrencyError refuses an order whose currency is not the template's.
type CurrencyError struct {
	Template string
	Want     string
	Got      string
}

func (e *CurrencyError) Error() string {
	return fmt.Sprintf("freight template %q is in %s, the order in %q", e.Template, e.Want, e.Got)
}

// LineError is an order line with a negative quantity or weight, which no
// freight can be computed for.
type LineError struct {
	SKU         string
	Quantity    int64
	WeightGrams int64
}

func (e *LineError) Error() string {
	return fmt.Sprintf("line %s: negative quantity %d or weight %d g", e.SKU, e.Quantity, e.WeightGrams)
}

// OverflowError is an order whose units or freight do not fit in int64.
type OverflowError struct {
	Template string
	// What overflowed: "units" or "freight".
	What string
}

func (e *OverflowError) Error() string {
	return fmt.Sprintf("freight template %q: the order's %s overflow int64", e.Template, e.What)
}

// TemplateError is a template that does not validate. Problems lists every
// problem found, each naming its field ("rates[1].additionalUnits"), in the
// order of the fields.
type TemplateError struct {
	Template string
	Problems []string
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("freight template %q: %s", e.Template, strings.Join(e.Problems, "; "))
}

// Validate reports every problem of the template in one *TemplateError: a
// blank name, an unknown basis, a currency that is not three capital
// letters, a negative FreeAbove, a rate without regions, a blank region or
// one listed twice (in one rate or in two), and in every rate (the default
// included) a negative amount or zero or negative units. A template with
// neither rates nor a default is refused too: it would refuse every order.
func (t Template) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if strings.TrimSpace(t.Name) == "" {
		add("name: required")
	}
	if t.Basis != BasisCount && t.Basis != BasisWeight {
		add("basis: %q is not %q or %q", t.Basis, BasisCount, BasisWeight)
	}
	if t.Currency != "" && !isCurrencyCode(t.Currency) {
		add("currency: %q is not an ISO 4217 code of three capital letters", t.Currency)
	}
	if t.FreeAbove < 0 {
		add("freeAbove: %d must not be negative", t.FreeAbove)
	}
	if len(t.Rates) == 0 && t.Default == nil {
		add("rates: no rate and no default, so every order would be refused")
	}
	listed := map[string]string{} // normalised region → where it is listed
	for i, r := range t.Rates {
		at := fmt.Sprintf("rates[%d]", i)
		if len(r.Regions) == 0 {
			add("%s.regions: at least one region is required", at)
		}
		for j, region := range r.Regions {
			key := normalRegion(region)
			switch prev, dup := listed[key]; {
			case key == "":
				add("%s.regions[%d]: blank region", at, j)
			case dup:
				add("%s.regions[%d]: region %q is also listed in %s", at, j, region, prev)
			default:
				listed[key] = fmt.Sprintf("%s.regions[%d]", at, j)
			}
		}
		r.validate(at, add)
	}
	if t.Default != nil {
		t.Default.validate("default", add)
	}
	if len(problems) > 0 {
		return &TemplateError{Template: t.Name, Problems: problems}
	}
	return nil
}

func (r Rate) validate(at string, add func(string, ...any)) {
	for _, f := range []struct {
		name string
		v    int64
	}{{"first", r.First}, {"additional", r.Additional}} {
		if f.v < 0 {
			add("%s.%s: %d must not be negative", at, f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"firstUnits", r.FirstUnits}, {"additionalUnits", r.AdditionalUnits}} {
		if f.v <= 0 {
			add("%s.%s: %d must be positive", at, f.name, f.v)
		}
	}
	if r.FreeAbove != nil && *r.FreeAbove < 0 {
		add("%s.freeAbove: %d must not be negative", at, *r.FreeAbove)
	}
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range []byte(s) {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

func normalRegion(r string) string { return strings.ToUpper(strings.TrimSpace(r)) }

// Compute charges one order by a valid template (see Validate; on an
// invalid one the result is unspecified). In order:
//
//  1. An order in a currency other than the template's (when it names one)
//     is a *CurrencyError.
//  2. The units are summed over the lines that are not virtual (pieces for
//     "count", WeightGrams × Quantity for "weight"); a negative quantity or
//     weight is a *LineError, a sum beyond int64 an *OverflowError. An order
//     with no physical line pays 0.
//  3. The rate is the one listing the shipping region (ignoring case and
//     surrounding blanks), else Default; with neither, the order is refused
//     with a *NoRateError naming the region, even when it would be free.
//     An order without a shipping address has region "" and takes Default.
//  4. It pays 0 when the rate's FreeAbove (if given, else the template's)
//     is positive and the subtotal, after discounts, is at least that.
//  5. Otherwise it pays the rate (see Rate; units rounded up to started
//     steps); a charge beyond int64 is an *OverflowError.
//
// Every answer, 0 included, names the template in Freight.Template. Compute
// is pure: no I/O, no state, safe for concurrent use.
func Compute(t Template, req extensions.DeliveryRequest) (extensions.Freight, error) {
	none := extensions.Freight{Amount: 0, Template: t.Name}
	if t.Currency != "" && req.Subtotal.Currency != t.Currency {
		return none, &CurrencyError{Template: t.Name, Want: t.Currency, Got: req.Subtotal.Currency}
	}
	var units int64
	physical := false
	for _, l := range req.Lines {
		if l.Virtual {
			continue
		}
		physical = true
		if l.Quantity < 0 || l.WeightGrams < 0 {
			return none, &LineError{SKU: l.SKU, Quantity: l.Quantity, WeightGrams: l.WeightGrams}
		}
		per := int64(1)
		if t.Basis == BasisWeight {
			per = l.WeightGrams
		}
		sum, ok := mulAdd(per, l.Quantity, units)
		if !ok {
			return none, &OverflowError{Template: t.Name, What: "units"}
		}
		units = sum
	}
	if !physical {
		return none, nil
	}
	var region string
	if req.Shipping != nil {
		region = req.Shipping.Region
	}
	rate, ok := t.rateFor(region)
	if !ok {
		return none, &NoRateError{Template: t.Name, Region: region}
	}
	free := t.FreeAbove
	if rate.FreeAbove != nil {
		free = *rate.FreeAbove
	}
	if free > 0 && req.Subtotal.Amount >= free {
		return none, nil
	}
	amount, ok := rate.charge(units)
	if !ok {
		return none, &OverflowError{Template: t.Name, What: "freight"}
	}
	return extensions.Freight{Amount: amount, Template: t.Name}, nil
}

// rateFor is the rate that lists region, else the default.
func (t *Template) rateFor(region string) (*Rate, bool) {
	region = strings.TrimSpace(region)
	if region != "" {
		for i := range t.Rates {
			for _, r := range t.Rates[i].Regions {
				if strings.EqualFold(strings.TrimSpace(r), region) {
					return &t.Rates[i].Rate, true
				}
			}
		}
	}
	return t.Default, t.Default != nil
}

// charge is the rate's freight for units ≥ 0, and false on overflow.
func (r *Rate) charge(units int64) (int64, bool) {
	if units <= r.FirstUnits {
		return r.First, true
	}
	steps := (units-r.FirstUnits-1)/r.AdditionalUnits + 1 // ceil without overflow
	return mulAdd(r.Additional, steps, r.First)
}

// mulAdd returns a×b + c for non-negative operands, and false when it
// overflows int64.
func mulAdd(a, b, c int64) (int64, bool) {
	if a != 0 && b > (math.MaxInt64-c)/a {
		return 0, false
	}
	return a*b + c, true
}

// DecodeTemplate decodes a template strictly (an unknown field, a string or
// fractional number, trailing data are refused) and validates it. Empty
// arguments are refused: a template has no defaults.
func DecodeTemplate(args json.RawMessage) (Template, error) {
	var t Template
	if len(strings.TrimSpace(string(args))) == 0 || strings.TrimSpace(string(args)) == "null" {
		return t, fmt.Errorf("arguments: a freight template is required")
	}
	if err := kernel.DecodeArgs(args, &t); err != nil {
		return t, err
	}
	if err := t.Validate(); err != nil {
		return t, fmt.Errorf("arguments: %w", err)
	}
	return t, nil
}

// NewTemplateFreight is the factory of template freight at delivery.freight:
// it decodes and validates the binding's arguments, a Template, once, when
// plans are compiled, and returns the function that computes each order's
// freight from it in memory (Compute). The template it keeps is its own
// copy; nothing the caller holds can change it.
func NewTemplateFreight(args json.RawMessage) (kernel.Func[extensions.DeliveryRequest, extensions.Freight], error) {
	t, err := DecodeTemplate(args)
	if err != nil {
		return nil, err
	}
	return func(_ context.Context, req extensions.DeliveryRequest) (extensions.Freight, error) {
		return Compute(t, req)
	}, nil
}

// TemplateFreight returns template freight as an implementation of
// delivery.freight registered under name, for a product to bind with a
// Template as its arguments (an identity then gives its own template through
// its ProductRef's arguments).
func TemplateFreight(name string) kernel.Implementation {
	return Freight.Factory(name, NewTemplateFreight).WithVersion("1").
		WithDoc("Freight by template: by piece count or weight of the physical lines, a first charge covering the first " +
			"units and a charge per started step of additional units, per region with a default, free from a subtotal " +
			"after discounts. Args: the template {\"name\", \"basis\", \"rates\", \"default\", \"freeAbove\"}; " +
			"a region without a rate is refused (region_not_served).")
}
