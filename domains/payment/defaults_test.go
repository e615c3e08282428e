package payment_test

import (
	"slices"
	"testing"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

func TestCardByDefault(t *testing.T) {
	t.Parallel()
	k, err := kernel.Standalone(payment.Points(), payment.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	op, _ := k.Begin(t.Context(), "")
	m, err := payment.Methods.Call(op, extensions.PaymentMethodsRequest{Total: extensions.Money{Amount: 1, Currency: "CNY"}})
	if err != nil || !slices.Equal(m.Methods, []string{"card"}) {
		t.Fatalf("payment methods = %v, %v", m, err)
	}
}
