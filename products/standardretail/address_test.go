package standardretail_test

import (
	"testing"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/products/standardretail"
)

func TestShippingAddress(t *testing.T) {
	t.Parallel()
	physical := []extensions.Line{{SKU: "kettle", Quantity: 1}, {SKU: "gift-card", Quantity: 1, Virtual: true}}
	virtual := []extensions.Line{{SKU: "gift-card", Quantity: 1, Virtual: true}}
	for _, tc := range []struct {
		name     string
		lines    []extensions.Line
		shipping *extensions.Address
		deny     string // "" to allow
	}{
		{"physical with a region", physical, &extensions.Address{Region: "CN-31"}, ""},
		{"physical without an address", physical, nil, "address_required"},
		{"physical with an empty region", physical, &extensions.Address{Line1: "1 Bund Rd", City: "Shanghai"}, "address_required"},
		{"physical with a blank region", physical, &extensions.Address{Region: "  "}, "address_required"},
		{"virtual only needs no address", virtual, nil, ""},
		{"no lines needs no address", nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := standardretail.ShippingAddress(t.Context(), extensions.ValidateRequest{Lines: tc.lines, Shipping: tc.shipping})
			if err != nil {
				t.Fatal(err)
			}
			if tc.deny == "" {
				if !v.Allow {
					t.Fatalf("denied: %+v", v)
				}
				return
			}
			if v.Allow || v.Code != tc.deny || v.Reason == "" {
				t.Fatalf("verdict = %+v, want a denial %s with a reason", v, tc.deny)
			}
		})
	}
}
