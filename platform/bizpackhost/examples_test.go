package bizpackhost_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/domains/delivery"
	"github.com/tmf-platform/tmf/domains/pricing"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
)

// The example bizpacks under bizpacks/, built and run as plugin processes,
// bound in a real configuration: each compiles, shapes the lifecycle and
// settings of the identities that bind it, and answers its points.
func TestExampleBizpacksBindAndShapeTheirIdentities(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example bizpacks")
	}
	// A call may miss its point's deadline on a busy machine (the test is
	// about what the bizpacks answer, not how fast): it is tried again,
	// and the breaker does not open on such misses.
	e := setup(t, bizpackhost.Options{BreakerFailures: 1000})
	for _, name := range []string{"virtual-topup", "b2b-distribution", "flash-sale"} {
		bin := buildPack(t.TempDir(), name, "../../bizpacks/"+name, "")
		sum, err := bizpackhost.Checksum(bin)
		if err != nil {
			t.Fatal(err)
		}
		e.load(t, bizpackhost.Spec{Name: name, Path: bin, SHA256: sum})
	}
	set, err := e.k.Apply(kernel.Config{Revision: 2, Identities: []kernel.IdentitySpec{
		{Code: "retail", Products: []kernel.ProductRef{{Name: "standard-retail"}}},
		{Code: "retail.flash", Bizpacks: []kernel.BizpackRef{{Name: "flash-sale"}}},
		{Code: "virtual"},
		{Code: "virtual.topup", Bizpacks: []kernel.BizpackRef{{Name: "virtual-topup"}}},
		{Code: "b2b", Products: []kernel.ProductRef{{Name: "b2b-distribution"}}, Bizpacks: []kernel.BizpackRef{{Name: "b2b-distribution"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	plan := func(code identity.Code) *kernel.Plan {
		p, ok := set.Plan(code)
		if !ok {
			t.Fatalf("no plan for %s", code)
		}
		return p
	}

	// virtual-topup: fulfilled on payment, nothing ships.
	topup := plan("virtual.topup").Lifecycle()
	if got := topup.Allowed("pending_payment"); !slices.Contains(got, "pay") {
		t.Fatalf("virtual.topup pending_payment allows %v", got)
	}
	if g := topup.Graph(); !slices.ContainsFunc(g.Edges(), func(ed lifecycle.Edge) bool {
		return ed.From == "pending_payment" && ed.Event == "pay" && ed.To == "completed"
	}) {
		t.Fatalf("virtual.topup: pay does not complete the order: %v", g.Edges())
	}
	op, _ := e.k.Begin(context.Background(), "virtual.topup")
	if need, err := retryTimeouts(t, func() (extensions.DeliveryRequirement, error) {
		return delivery.Required.Call(op, extensions.DeliveryRequest{BizCode: "virtual.topup",
			Lines: []extensions.Line{{SKU: "topup-50", Quantity: 1, Virtual: true}}})
	}); err != nil || need.Required {
		t.Fatalf("delivery.required = %+v, %v", need, err)
	}
	// Its manifest declares the phone number, required and searchable.
	if phone, ok := plan("virtual.topup").Attributes()["phone"]; !ok || !phone.Required || !phone.Searchable || phone.Source != "virtual-topup" {
		t.Fatalf("virtual.topup attributes %+v", plan("virtual.topup").Attributes())
	}
	if v, err := retryTimeouts(t, func() (kernel.Decision, error) {
		return order.Validate.Call(op, extensions.ValidateRequest{BizCode: "virtual.topup",
			Attributes: map[string]any{"phone": "+4915112345678"}})
	}); err != nil || v.Allowed || v.Code != "unsupported_number" {
		t.Fatalf("order.validate of a foreign number = %+v, %v", v, err)
	}

	// b2b-distribution: tier prices and a finance review after approval.
	b2b := plan("b2b").Lifecycle()
	if got := b2b.Allowed("pending_finance_review"); !slices.Contains(got, "finance_approve") || !slices.Contains(got, "finance_reject") {
		t.Fatalf("b2b pending_finance_review allows %v", got)
	}
	op, _ = e.k.Begin(context.Background(), "b2b")
	sheet, err := retryTimeouts(t, func() (extensions.PriceSheet, error) {
		return pricing.Adjust.Call(op, extensions.PriceSheet{BizCode: "b2b", Currency: "CNY",
			Buyer: extensions.Buyer{ID: "agent-1", Attrs: map[string]string{"tier": "gold"}},
			Lines: []extensions.Line{{SKU: "case", Quantity: 10, UnitPrice: 10000}}})
	})
	if err != nil || sheet.Lines[0].UnitPrice >= 10000 {
		t.Fatalf("gold agent pays %+v, %v; want a tier price below list", sheet.Lines, err)
	}

	// flash-sale: the short payment timeout of its manifest.
	if got := plan("retail.flash").PaymentTimeout(); got != 2*time.Minute {
		t.Fatalf("retail.flash payment timeout %s, want 2m", got)
	}
	if got := plan("retail").PaymentTimeout(); got == 2*time.Minute {
		t.Fatal("the flash sale's timeout leaked to its parent")
	}
}

// retryTimeouts calls call until it answers other than with a missed
// deadline, at most 50 times.
func retryTimeouts[T any](t *testing.T, call func() (T, error)) (T, error) {
	t.Helper()
	for i := 0; ; i++ {
		v, err := call()
		var xe *kernel.ExtensionError
		if i < 50 && errors.As(err, &xe) && xe.Outcome == kernel.OutcomeTimeout {
			t.Logf("a call missed its deadline (%v); again", err)
			continue
		}
		return v, err
	}
}
