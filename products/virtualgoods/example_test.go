package virtualgoods_test

import (
	"context"
	"fmt"

	"github.com/tmf-platform/tmf/domains/delivery"
	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/pricing"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/products/virtualgoods"
)

// Bind the product to a business identity, then validate and price a
// mobile top-up through the kernel. The child identity has no configuration
// of its own and inherits the product.
func Example() {
	k, err := catalog.NewKernel(kernel.WithoutMetrics()) // the built-in points, defaults and products
	if err != nil {
		panic(err)
	}
	_, err = k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
		{Code: "virtual.topup", Products: []kernel.ProductRef{{Name: virtualgoods.Name}}},
		{Code: "virtual.topup.mobile"},
	}})
	if err != nil {
		panic(err)
	}

	op, err := k.Begin(context.Background(), "virtual.topup.mobile")
	if err != nil {
		panic(err)
	}
	buyer := extensions.Buyer{ID: "u-42"}
	lines := []extensions.Line{{SKU: "topup-cmcc-50", Quantity: 2, Virtual: true, UnitPrice: 4980}}

	d, err := order.Validate.Call(op, extensions.ValidateRequest{BizCode: "virtual.topup.mobile", Buyer: buyer, Lines: lines})
	if err != nil {
		panic(err)
	}
	fmt.Println("valid:", d.Allowed)

	sheet, err := pricing.Adjust.Call(op, extensions.PriceSheet{BizCode: "virtual.topup.mobile", Buyer: buyer, Currency: "CNY", Lines: lines})
	if err != nil {
		panic(err)
	}
	var subtotal int64
	for _, l := range sheet.Lines {
		subtotal += l.UnitPrice * l.Quantity
	}
	fmt.Println("subtotal:", subtotal)

	need, err := delivery.Required.Call(op, extensions.DeliveryRequest{BizCode: "virtual.topup.mobile", Lines: sheet.Lines})
	if err != nil {
		panic(err)
	}
	fmt.Println("shipped:", need.Required)

	methods, err := payment.Methods.Call(op, extensions.PaymentMethodsRequest{BizCode: "virtual.topup.mobile", Buyer: buyer,
		Total: extensions.Money{Amount: subtotal, Currency: "CNY"}})
	if err != nil {
		panic(err)
	}
	fmt.Println("pay with:", methods.Methods)
	fmt.Println("unpaid orders cancelled after:", op.Plan().PaymentTimeout())

	// Fulfilled on payment: pay leads straight to completed.
	placed := order.Snapshot{ID: "v-1", BizCode: "virtual.topup.mobile", BuyerID: buyer.ID, State: lifecycle.PendingPayment, Version: 2}
	t, err := order.Fire(op, placed, order.Event{Name: lifecycle.EventPay, Actor: "payment-gateway"}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("pay:", t.From, "->", t.To)
	_, err = order.Fire(op, placed, order.Event{Name: lifecycle.EventShip}, nil)
	fmt.Println(err)

	// A physical line, or too many top-ups, is refused with a stable code.
	d, _ = order.Validate.Call(op, extensions.ValidateRequest{BizCode: "virtual.topup.mobile", Buyer: buyer,
		Lines: []extensions.Line{{SKU: "topup-cmcc-50", Quantity: 11, Virtual: true}}})
	fmt.Println("refused:", d.Code, "by", d.By)
	// Output:
	// valid: true
	// subtotal: 9960
	// shipped: false
	// pay with: [card balance]
	// unpaid orders cancelled after: 15m0s
	// pay: pending_payment -> completed
	// lifecycle: event "ship" is not allowed in state "pending_payment" (allowed: cancel, pay, payment_fail, payment_timeout)
	// refused: quantity_limit by virtual-goods.virtual-only
}
