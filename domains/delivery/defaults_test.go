package delivery_test

import (
	"testing"

	"github.com/tmf-platform/tmf/domains/delivery"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

func TestDefaults(t *testing.T) {
	t.Parallel()
	k, err := kernel.Standalone(delivery.Points(), delivery.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		lines []extensions.Line
		ships bool
	}{
		{"physical", []extensions.Line{{SKU: "phone", Quantity: 1}}, true},
		{"virtual", []extensions.Line{{SKU: "topup", Quantity: 1, Virtual: true}}, false},
		{"mixed ships", []extensions.Line{{SKU: "topup", Quantity: 1, Virtual: true}, {SKU: "case", Quantity: 1}}, true},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, _ := k.Begin(t.Context(), "")
			req := extensions.DeliveryRequest{Lines: tc.lines, Subtotal: extensions.Money{Amount: 100, Currency: "CNY"}}
			r, err := delivery.Required.Call(op, req)
			if err != nil || r.Required != tc.ships {
				t.Fatalf("required = %+v, %v; want %v", r, err, tc.ships)
			}
			f, err := delivery.Freight.Call(op, req)
			if err != nil || f.Amount != 0 || f.Template != "free" {
				t.Fatalf("freight = %+v, %v", f, err)
			}
		})
	}
}
