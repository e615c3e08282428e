package pricing_test

import (
	"errors"
	"testing"

	"github.com/tmf-platform/tmf/domains/pricing"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

func TestListPrice(t *testing.T) {
	t.Parallel()
	k, err := kernel.Standalone(pricing.Points(), pricing.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		sheet extensions.PriceSheet
		ok    bool
	}{
		{"list prices pass unchanged", extensions.PriceSheet{Currency: "CNY", Lines: []extensions.Line{{SKU: "a", Quantity: 2, UnitPrice: 1999}}}, true},
		{"free items are fine", extensions.PriceSheet{Currency: "CNY", Lines: []extensions.Line{{SKU: "a", Quantity: 1, UnitPrice: 0}}}, true},
		{"no currency", extensions.PriceSheet{Lines: []extensions.Line{{SKU: "a", Quantity: 1, UnitPrice: 1}}}, false},
		{"negative price", extensions.PriceSheet{Currency: "CNY", Lines: []extensions.Line{{SKU: "a", Quantity: 1, UnitPrice: -1}}}, false},
		{"zero quantity", extensions.PriceSheet{Currency: "CNY", Lines: []extensions.Line{{SKU: "a", Quantity: 0, UnitPrice: 1}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, _ := k.Begin(t.Context(), "")
			got, err := pricing.Adjust.Call(op, tc.sheet)
			if tc.ok {
				if err != nil || got.Lines[0].UnitPrice != tc.sheet.Lines[0].UnitPrice {
					t.Fatalf("got %+v, %v", got, err)
				}
				return
			}
			var ee *kernel.ExtensionError
			if !errors.As(err, &ee) || ee.Impl != "pricing.list-price" {
				t.Fatalf("err = %v; pricing.adjust fails closed", err)
			}
		})
	}
}
