package main

import (
	"context"
	"errors"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/harness"
)

func TestSupportedNumber(t *testing.T) {
	cases := []struct {
		name  string
		attrs map[string]any
		want  outcome
	}{
		{"mainland mobile", map[string]any{"phone": "+8613800138000"}, allow},
		{"another country", map[string]any{"phone": "+4915112345678"}, CodeUnsupportedNumber},
		{"mainland landline", map[string]any{"phone": "+862155550100"}, CodeUnsupportedNumber},
		{"no attribute (an older host)", nil, CodeUnsupportedNumber},
		{"not a string", map[string]any{"phone": 8613800138000}, CodeUnsupportedNumber},
	}
	for _, r := range harness.Both(t, newBizpack(), ".") {
		t.Run(r.Name(), func(t *testing.T) {
			for _, c := range cases {
				req := extensions.ValidateRequest{BizCode: identity, Attributes: c.attrs,
					Lines: []extensions.Line{{SKU: "topup-50", Quantity: 1, Virtual: true}}}
				v, err := harness.Call[extensions.Verdict](r, extensions.OrderValidate, identity, req)
				check(t, c.name, v, err, c.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SupportedNumber(ctx, extensions.ValidateRequest{}); !errors.Is(err, context.Canceled) {
		t.Errorf("done context: %v", err)
	}
}
