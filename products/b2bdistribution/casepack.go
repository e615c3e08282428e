package b2bdistribution

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// CasePack is b2b-distribution.case-pack, at order.validate, configured by
// the binding's arguments {"caseSize": 1}: agents order whole cases, so
// every line's quantity must be a multiple of CaseSize, else the order is
// denied with "case_pack" naming the first such line. Non-positive
// quantities are left to the platform's order.basic. It never returns an
// error.
type CasePack struct {
	// CaseSize is the number of units in a case; at least 1.
	CaseSize int64 `json:"caseSize"`
}

// DefaultCasePack is the rule used for arguments that are omitted: single
// units, so every quantity passes.
func DefaultCasePack() CasePack { return CasePack{CaseSize: 1} }

// Validate refuses a case size below 1.
func (c CasePack) Validate() error {
	if c.CaseSize < 1 {
		return fmt.Errorf("caseSize: %d must be at least 1", c.CaseSize)
	}
	return nil
}

// NewCasePack is the factory of b2b-distribution.case-pack: it decodes the
// binding's arguments strictly over DefaultCasePack and validates them.
func NewCasePack(args json.RawMessage) (kernel.Func[extensions.ValidateRequest, extensions.Verdict], error) {
	c := DefaultCasePack()
	if err := kernel.DecodeArgs(args, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("arguments: %w", err)
	}
	return c.Check, nil
}

// Check applies the rule to one order.
func (c CasePack) Check(_ context.Context, req extensions.ValidateRequest) (extensions.Verdict, error) {
	for _, l := range req.Lines {
		if l.Quantity%c.CaseSize != 0 {
			return extensions.Deny("case_pack", fmt.Sprintf("line %s: quantity %d is not a whole number of cases of %d", l.SKU, l.Quantity, c.CaseSize)), nil
		}
	}
	return extensions.Allow(), nil
}

var _ kernel.Func[extensions.ValidateRequest, extensions.Verdict] = CasePack{}.Check
