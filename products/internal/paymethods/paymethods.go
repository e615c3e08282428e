// Package paymethods is the payment.methods implementation the built-in
// products share: a fixed, configured list of methods, preferred first.
// Each product registers it under its own name with its own defaults.
package paymethods

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// List is the configuration of a method list: the binding's arguments are
// {"methods": ["card", "cod"]}.
type List struct {
	// Methods offered, preferred first: non-empty, no blank or duplicate
	// names.
	Methods []string `json:"methods"`
}

// Validate checks the list.
func (l List) Validate() error {
	if len(l.Methods) == 0 {
		return fmt.Errorf("methods: at least one payment method is required")
	}
	seen := make(map[string]bool, len(l.Methods))
	for i, m := range l.Methods {
		if strings.TrimSpace(m) == "" {
			return fmt.Errorf("methods[%d]: blank payment method", i)
		}
		if seen[m] {
			return fmt.Errorf("methods: %q is listed twice", m)
		}
		seen[m] = true
	}
	return nil
}

// Offer answers payment.methods with the configured list. Every call returns
// its own copy, so a caller that reorders the answer cannot change the
// configuration.
func (l List) Offer(context.Context, extensions.PaymentMethodsRequest) (extensions.PaymentMethodList, error) {
	return extensions.PaymentMethodList{Methods: slices.Clone(l.Methods)}, nil
}

// New decodes a binding's arguments strictly and returns the configured
// list's Offer. Omitted arguments, or arguments without "methods", offer
// defaults. An empty list, a blank name or a duplicate is an error.
func New(args json.RawMessage, defaults ...string) (kernel.Func[extensions.PaymentMethodsRequest, extensions.PaymentMethodList], error) {
	// Decode into a nil slice and default afterwards: decoding into a
	// preset slice would write over the defaults' backing array.
	var l List
	if err := kernel.DecodeArgs(args, &l); err != nil {
		return nil, err
	}
	if l.Methods == nil {
		l.Methods = slices.Clone(defaults)
	}
	if err := l.Validate(); err != nil {
		return nil, fmt.Errorf("arguments: %w", err)
	}
	l.Methods = slices.Clone(l.Methods)
	return l.Offer, nil
}

var _ kernel.Func[extensions.PaymentMethodsRequest, extensions.PaymentMethodList] = List{}.Offer
