package virtualgoods_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/products/virtualgoods"
)

func TestNoDeliveryAndNoFreight(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		lines []extensions.Line
	}{
		{"virtual lines", []extensions.Line{{SKU: "topup-50", Quantity: 1, Virtual: true}}},
		// order.validate refuses these beforehand; the answer does not depend on them.
		{"a heavy physical line", []extensions.Line{{SKU: "fridge", Quantity: 1, WeightGrams: 80000}}},
		{"no lines", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := extensions.DeliveryRequest{Lines: tc.lines, Subtotal: extensions.Money{Amount: 100, Currency: "CNY"}}
			need, err := virtualgoods.NoDelivery(t.Context(), req)
			if err != nil || need.Required {
				t.Fatalf("required = %+v, %v", need, err)
			}
			f, err := virtualgoods.NoFreight(t.Context(), req)
			if err != nil || f.Amount != 0 || f.Template != virtualgoods.ImplNoFreight {
				t.Fatalf("freight = %+v, %v", f, err)
			}
		})
	}
}

func TestVirtualOnly(t *testing.T) {
	t.Parallel()
	topup := func(q int64) extensions.Line { return extensions.Line{SKU: "topup-50", Quantity: q, Virtual: true} }
	for _, tc := range []struct {
		name  string
		args  string
		lines []extensions.Line
		deny  string // "" to allow
		names string // what the denial's reason must mention
	}{
		{"virtual lines within the default limit", ``, []extensions.Line{topup(10), {SKU: "game-card", Quantity: 1, Virtual: true}}, "", ""},
		{"a physical line", ``, []extensions.Line{topup(1), {SKU: "phone-case", Quantity: 1}}, "physical_line", "phone-case"},
		{"above the default limit of 10", ``, []extensions.Line{topup(11)}, "quantity_limit", "11"},
		{"the first failing line is named", ``, []extensions.Line{{SKU: "mug", Quantity: 1}, topup(99)}, "physical_line", "mug"},
		{"a configured limit", `{"maxQuantity": 2}`, []extensions.Line{topup(3)}, "quantity_limit", "limit of 2"},
		{"at a configured limit", `{"maxQuantity": 2}`, []extensions.Line{topup(2)}, "", ""},
		{"a limit of one", `{"maxQuantity": 1}`, []extensions.Line{topup(1)}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			check, err := virtualgoods.NewVirtualOnly(json.RawMessage(tc.args))
			if err != nil {
				t.Fatal(err)
			}
			v, err := check(t.Context(), extensions.ValidateRequest{Lines: tc.lines})
			if err != nil {
				t.Fatal(err)
			}
			if tc.deny == "" {
				if !v.Allow {
					t.Fatalf("denied: %+v", v)
				}
				return
			}
			if v.Allow || v.Code != tc.deny || !strings.Contains(v.Reason, tc.names) {
				t.Fatalf("verdict = %+v, want %s mentioning %q", v, tc.deny, tc.names)
			}
		})
	}
}

func TestVirtualOnlyFactoryRefusesBadArguments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, args, mention string }{
		{"zero limit", `{"maxQuantity": 0}`, "maxQuantity"},
		{"negative limit", `{"maxQuantity": -5}`, "maxQuantity"},
		{"unknown field", `{"maxQty": 5}`, `unknown field "maxQty"`},
		{"limit as a string", `{"maxQuantity": "5"}`, "maxQuantity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fn, err := virtualgoods.NewVirtualOnly(json.RawMessage(tc.args))
			if err == nil || fn != nil || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("factory(%s) = %v; want an error mentioning %q", tc.args, err, tc.mention)
			}
		})
	}
}

func TestMethods(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, args string
		want       []string
		refuse     string
	}{
		{"defaults", ``, []string{"card", "balance"}, ""},
		{"null keeps defaults", `null`, []string{"card", "balance"}, ""},
		{"configured", `{"methods": ["balance"]}`, []string{"balance"}, ""},
		{"empty list", `{"methods": []}`, nil, "at least one"},
		{"duplicate", `{"methods": ["balance", "card", "balance"]}`, nil, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			offer, err := virtualgoods.NewMethods(json.RawMessage(tc.args))
			if tc.refuse != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refuse) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.refuse)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, err := offer(t.Context(), extensions.PaymentMethodsRequest{}); err != nil || !slices.Equal(got.Methods, tc.want) {
				t.Fatalf("methods = %v, %v; want %v", got.Methods, err, tc.want)
			}
		})
	}
}

func TestLifecycleIsFulfilledOnPayment(t *testing.T) {
	t.Parallel()
	p := virtualgoods.Product()
	g, err := p.Lifecycle.Apply(*p.LifecyclePatch)
	if err != nil {
		t.Fatal(err)
	}
	want := []lifecycle.Edge{
		{From: "created", Event: "cancel", To: "cancelled"},
		{From: "created", Event: "place", To: "pending_payment"},
		{From: "pending_payment", Event: "cancel", To: "cancelled"},
		{From: "pending_payment", Event: "pay", To: "completed"},
		{From: "pending_payment", Event: "payment_fail", To: "payment_failed"},
		{From: "pending_payment", Event: "payment_timeout", To: "cancelled"},
	}
	if got := g.Edges(); !slices.Equal(got, want) {
		t.Fatalf("edges:\n got %v\nwant %v", got, want)
	}
	if len(g.States) != 5 || g.Name != "virtual" {
		t.Fatalf("graph %q has states %v", g.Name, g.States)
	}
}
