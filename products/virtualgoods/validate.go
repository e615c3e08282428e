package virtualgoods

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// VirtualOnly is virtual-goods.virtual-only, at order.validate, configured
// by the binding's arguments {"maxQuantity": 10}. Every line must be
// virtual, else the order is denied with "physical_line"; and no line may
// order more than MaxQuantity units, else "quantity_limit" (the cap limits
// what one stolen card can top up in one go). Lines are checked in order
// and the first failing one is named. It never returns an error.
type VirtualOnly struct {
	// MaxQuantity is the largest quantity of one line; at least 1.
	MaxQuantity int64 `json:"maxQuantity"`
}

// DefaultVirtualOnly is the rule used for arguments that are omitted.
func DefaultVirtualOnly() VirtualOnly { return VirtualOnly{MaxQuantity: 10} }

// Validate refuses a cap below 1.
func (v VirtualOnly) Validate() error {
	if v.MaxQuantity < 1 {
		return fmt.Errorf("maxQuantity: %d must be at least 1", v.MaxQuantity)
	}
	return nil
}

// NewVirtualOnly is the factory of virtual-goods.virtual-only: it decodes
// the binding's arguments strictly over DefaultVirtualOnly and validates
// them.
func NewVirtualOnly(args json.RawMessage) (kernel.Func[extensions.ValidateRequest, extensions.Verdict], error) {
	v := DefaultVirtualOnly()
	if err := kernel.DecodeArgs(args, &v); err != nil {
		return nil, err
	}
	if err := v.Validate(); err != nil {
		return nil, fmt.Errorf("arguments: %w", err)
	}
	return v.Check, nil
}

// Check applies the rule to one order.
func (v VirtualOnly) Check(_ context.Context, req extensions.ValidateRequest) (extensions.Verdict, error) {
	for _, l := range req.Lines {
		if !l.Virtual {
			return extensions.Deny("physical_line", fmt.Sprintf("line %s is a physical good; this business sells virtual goods only", l.SKU)), nil
		}
		if l.Quantity > v.MaxQuantity {
			return extensions.Deny("quantity_limit", fmt.Sprintf("line %s: quantity %d is above the limit of %d", l.SKU, l.Quantity, v.MaxQuantity)), nil
		}
	}
	return extensions.Allow(), nil
}

var _ kernel.Func[extensions.ValidateRequest, extensions.Verdict] = VirtualOnly{}.Check
