package standardretail

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// WeightFreight is the weight-based freight rule, configured by the binding's
// arguments {"firstKg": 800, "perExtraKg": 200, "freeAbove": 9900}. Amounts
// are minor units of the order's currency; the rule knows no currency.
//
// The shipped weight is the sum of weight × quantity over the lines that are
// not virtual. An order with no physical line pays nothing. Otherwise it
// pays nothing when FreeAbove > 0 and the subtotal is at least FreeAbove;
// else FirstKg covers the first kilogram (also for an order whose lines
// declare no weight), and every started kilogram above it costs PerExtraKg:
//
//	freight = FirstKg + PerExtraKg × ceil((grams − 1000) / 1000)   for grams > 1000
//
// Rounding: the extra weight is rounded up to whole kilograms (1001 g pays
// one extra kilogram, 2000 g pays one, 2001 g pays two).
type WeightFreight struct {
	// FirstKg is the charge of the first kilogram.
	FirstKg int64 `json:"firstKg"`
	// PerExtraKg is the charge of each started kilogram after the first.
	PerExtraKg int64 `json:"perExtraKg"`
	// FreeAbove is the subtotal from which freight is free; 0 means never.
	FreeAbove int64 `json:"freeAbove"`
}

// DefaultWeightFreight is the rule used for arguments that are omitted.
func DefaultWeightFreight() WeightFreight {
	return WeightFreight{FirstKg: 800, PerExtraKg: 200, FreeAbove: 9900}
}

// Validate refuses negative amounts.
func (w WeightFreight) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{{"firstKg", w.FirstKg}, {"perExtraKg", w.PerExtraKg}, {"freeAbove", w.FreeAbove}} {
		if f.v < 0 {
			return fmt.Errorf("%s: %d must not be negative", f.name, f.v)
		}
	}
	return nil
}

// NewWeightFreight is the factory of standard-retail.weight-freight: it
// decodes the binding's arguments strictly over DefaultWeightFreight (an
// omitted field keeps its default) and validates them.
func NewWeightFreight(args json.RawMessage) (kernel.Func[extensions.DeliveryRequest, extensions.Freight], error) {
	w := DefaultWeightFreight()
	if err := kernel.DecodeArgs(args, &w); err != nil {
		return nil, err
	}
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("arguments: %w", err)
	}
	return w.Freight, nil
}

// Freight computes the charge of one order (see WeightFreight). A line with
// a negative quantity or weight, or a weight or charge that overflows int64,
// is an error: delivery.freight's failure policy then decides.
func (w WeightFreight) Freight(_ context.Context, req extensions.DeliveryRequest) (extensions.Freight, error) {
	none := extensions.Freight{Amount: 0, Template: ImplWeightFreight}
	var grams int64
	physical := false
	for _, l := range req.Lines {
		if l.Virtual {
			continue
		}
		physical = true
		if l.Quantity < 0 || l.WeightGrams < 0 {
			return none, fmt.Errorf("line %s: negative quantity %d or weight %d g", l.SKU, l.Quantity, l.WeightGrams)
		}
		lineGrams, ok := mulAdd(l.WeightGrams, l.Quantity, grams)
		if !ok {
			return none, fmt.Errorf("line %s: order weight overflows", l.SKU)
		}
		grams = lineGrams
	}
	if !physical || w.FreeAbove > 0 && req.Subtotal.Amount >= w.FreeAbove {
		return none, nil
	}
	var extraKg int64
	if grams > 1000 {
		extraKg = (grams - 1) / 1000 // = ceil((grams − 1000) / 1000) without overflow
	}
	amount, ok := mulAdd(w.PerExtraKg, extraKg, w.FirstKg)
	if !ok {
		return none, fmt.Errorf("freight of %d g overflows", grams)
	}
	return extensions.Freight{Amount: amount, Template: ImplWeightFreight}, nil
}

// mulAdd returns a×b + c for non-negative operands, and false when it
// overflows int64.
func mulAdd(a, b, c int64) (int64, bool) {
	if a != 0 && b > (math.MaxInt64-c)/a {
		return 0, false
	}
	return a*b + c, true
}

var _ kernel.Func[extensions.DeliveryRequest, extensions.Freight] = WeightFreight{}.Freight
