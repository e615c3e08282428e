package standardretail_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/products/standardretail"
)

func TestLifecycleHasNoReview(t *testing.T) {
	t.Parallel()
	p := standardretail.Product()
	g, err := p.Lifecycle.Apply(*p.LifecyclePatch)
	if err != nil {
		t.Fatal(err)
	}
	want := []lifecycle.Edge{
		{From: "created", Event: "cancel", To: "cancelled"},
		{From: "created", Event: "place", To: "pending_payment"},
		{From: "pending_inbound", Event: "inbound_fail", To: "inbound_failed"},
		{From: "pending_inbound", Event: "receive", To: "completed"},
		{From: "pending_outbound", Event: "outbound_fail", To: "outbound_failed"},
		{From: "pending_outbound", Event: "ship", To: "pending_inbound"},
		{From: "pending_payment", Event: "cancel", To: "cancelled"},
		{From: "pending_payment", Event: "pay", To: "pending_outbound"},
		{From: "pending_payment", Event: "payment_fail", To: "payment_failed"},
		{From: "pending_payment", Event: "payment_timeout", To: "cancelled"},
	}
	if got := g.Edges(); !slices.Equal(got, want) {
		t.Fatalf("edges:\n got %v\nwant %v", got, want)
	}
	var states []string
	for _, s := range g.States {
		states = append(states, s.Name)
	}
	slices.Sort(states)
	if want := []string{"cancelled", "completed", "created", "inbound_failed", "outbound_failed", "payment_failed",
		"pending_inbound", "pending_outbound", "pending_payment"}; !slices.Equal(states, want) {
		t.Fatalf("states = %v, want %v", states, want)
	}
	if g.Name != "retail" {
		t.Fatalf("graph name %q", g.Name)
	}
}

func TestMethods(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, args string
		want       []string
		refuse     string // a fragment of the factory's error
	}{
		{"defaults", ``, []string{"card", "cod"}, ""},
		{"empty object keeps defaults", `{}`, []string{"card", "cod"}, ""},
		{"configured order", `{"methods": ["cod", "card", "wallet"]}`, []string{"cod", "card", "wallet"}, ""},
		{"empty list", `{"methods": []}`, nil, "at least one"},
		{"duplicate", `{"methods": ["card", "card"]}`, nil, `"card" is listed twice`},
		{"blank", `{"methods": ["card", " "]}`, nil, "blank"},
		{"unknown field", `{"method": ["card"]}`, nil, `unknown field "method"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			offer, err := standardretail.NewMethods(json.RawMessage(tc.args))
			if tc.refuse != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refuse) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.refuse)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := offer(t.Context(), extensions.PaymentMethodsRequest{})
			if err != nil || !slices.Equal(got.Methods, tc.want) {
				t.Fatalf("methods = %v, %v; want %v", got.Methods, err, tc.want)
			}
			// The answer is the caller's: changing it changes no later answer.
			got.Methods[0] = "mutated"
			again, _ := offer(t.Context(), extensions.PaymentMethodsRequest{})
			if !slices.Equal(again.Methods, tc.want) {
				t.Fatalf("a caller's change leaked into the configuration: %v", again.Methods)
			}
		})
	}
	if d := standardretail.DefaultMethods(); !slices.Equal(d, []string{"card", "cod"}) {
		t.Fatalf("DefaultMethods() = %v after use", d)
	}
}
