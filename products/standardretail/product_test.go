package standardretail_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/domains/delivery"
	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/pricing"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
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
		{From: "pending_outbound", Event: "cancel", To: "cancelled"},
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

func TestBindings(t *testing.T) {
	t.Parallel()
	want := []struct{ point, impl, args string }{
		{"delivery.freight", standardretail.ImplFreight, `{"name":"standard-retail.weight","basis":"weight",` +
			`"default":{"first":800,"firstUnits":1000,"additional":200,"additionalUnits":1000},"freeAbove":9900}`},
		{"pricing.adjust", standardretail.ImplMemberPrice, `{"tag":"","basisPoints":10000,"prices":{}}`},
		{"order.validate", standardretail.ImplShippingAddress, ``},
		{"payment.methods", standardretail.ImplMethods, `{"methods":["card","cod"]}`},
	}
	got := standardretail.Product().Bindings
	if len(got) != len(want) {
		t.Fatalf("%d bindings, want %d: %+v", len(got), len(want), got)
	}
	impls := map[string]string{}
	for _, im := range standardretail.Implementations() {
		impls[im.Name] = im.Point.Name
		if im.Version == "" || im.Doc == "" {
			t.Errorf("%s has no version or doc", im.Name)
		}
	}
	for i, w := range want {
		b := got[i]
		if b.Point != w.point || b.Impl != w.impl || string(b.Args) != w.args || b.Priority != nil {
			t.Errorf("binding %d = %s %s %s, want %s %s %s", i, b.Point, b.Impl, b.Args, w.point, w.impl, w.args)
		}
		if impls[w.impl] != w.point {
			t.Errorf("%s is registered at %q, want %s", w.impl, impls[w.impl], w.point)
		}
	}
	if len(impls) != len(want) {
		t.Errorf("implementations %v", impls)
	}
}

// Identities configure the product through their ProductRef's arguments:
// their freight template and member prices replace the defaults for them and
// the descendants that inherit their products, and bad arguments are refused
// when the configuration is compiled.
func TestConfiguredPerIdentity(t *testing.T) {
	t.Parallel()
	var points []kernel.Point
	var defaults []kernel.Implementation
	for _, ps := range [][]kernel.Point{order.Points(), pricing.Points(), payment.Points(), delivery.Points()} {
		points = append(points, ps...)
	}
	for _, is := range [][]kernel.Implementation{order.Defaults(), pricing.Defaults(), payment.Defaults(), delivery.Defaults()} {
		defaults = append(defaults, is...)
	}
	k, err := kernel.Standalone(points, defaults, kernel.WithoutMetrics())
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Registry().Register(standardretail.Implementations()...); err != nil {
		t.Fatal(err)
	}
	if err := k.Registry().AddProduct(standardretail.Product()); err != nil {
		t.Fatal(err)
	}
	club := map[string]json.RawMessage{
		"pricing.adjust": json.RawMessage(`{"tag": "member", "basisPoints": 9500, "prices": {"tea": 800}}`),
		"delivery.freight": json.RawMessage(`{"name": "club-east", "basis": "count", "freeAbove": 5000,
			"rates": [{"regions": ["CN-SH"], "first": 500, "firstUnits": 1, "additional": 100, "additionalUnits": 1}]}`),
	}
	if _, err := k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
		{Code: "retail", Products: []kernel.ProductRef{{Name: standardretail.Name}}},
		{Code: "retail.club", Products: []kernel.ProductRef{{Name: standardretail.Name, Args: club}}},
		{Code: "retail.club.kids"}, // inherits the club's products and arguments
	}}); err != nil {
		t.Fatal(err)
	}
	member := extensions.Buyer{ID: "b-1", Attrs: map[string]string{"tags": "newsletter,member"}}
	lines := []extensions.Line{{SKU: "tea", Quantity: 2, WeightGrams: 600, UnitPrice: 1000}, {SKU: "cup", Quantity: 1, WeightGrams: 300, UnitPrice: 1999}}
	for _, tc := range []struct {
		name        string
		identity    identity.Code
		buyer       extensions.Buyer
		region      string
		prices      []int64
		adjustments []string
		freight     extensions.Freight
		noRate      bool
	}{
		{"defaults: list prices, freight by weight (1500 g)", "retail", member, "CN-XZ",
			[]int64{1000, 1999}, nil, extensions.Freight{Amount: 1000, Template: standardretail.DefaultTemplateName}, false},
		{"the club's member prices and template", "retail.club", member, "CN-SH",
			[]int64{800, 1899}, []string{"member-price:member"}, extensions.Freight{Amount: 700, Template: "club-east"}, false},
		{"a non-member of the club pays list prices", "retail.club", extensions.Buyer{ID: "b-2"}, "CN-SH",
			[]int64{1000, 1999}, nil, extensions.Freight{Amount: 700, Template: "club-east"}, false},
		{"a child inherits the club's configuration", "retail.club.kids", member, "cn-sh",
			[]int64{800, 1899}, []string{"member-price:member"}, extensions.Freight{Amount: 700, Template: "club-east"}, false},
		{"the club's template does not ship everywhere", "retail.club", member, "CN-XZ",
			[]int64{800, 1899}, []string{"member-price:member"}, extensions.Freight{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, err := k.Begin(t.Context(), tc.identity)
			if err != nil {
				t.Fatal(err)
			}
			sheet, err := pricing.Adjust.Call(op, extensions.PriceSheet{BizCode: string(tc.identity), Currency: "CNY",
				Buyer: tc.buyer, Lines: slices.Clone(lines)})
			if err != nil {
				t.Fatal(err)
			}
			var prices []int64
			var subtotal int64
			for _, l := range sheet.Lines {
				prices = append(prices, l.UnitPrice)
				subtotal += l.UnitPrice * l.Quantity
			}
			if !slices.Equal(prices, tc.prices) || !slices.Equal(sheet.Adjustments, tc.adjustments) {
				t.Fatalf("prices %v %q, want %v %q", prices, sheet.Adjustments, tc.prices, tc.adjustments)
			}
			f, err := delivery.Freight.Call(op, extensions.DeliveryRequest{BizCode: string(tc.identity), Lines: sheet.Lines,
				Shipping: &extensions.Address{Region: tc.region}, Subtotal: extensions.Money{Amount: subtotal, Currency: "CNY"}})
			if tc.noRate {
				var nr *delivery.NoRateError
				if !errors.As(err, &nr) || nr.Region != tc.region || nr.Template != "club-east" {
					t.Fatalf("freight = %+v, %v; want a *NoRateError for %s", f, err, tc.region)
				}
				return
			}
			if err != nil || f != tc.freight {
				t.Fatalf("freight = %+v, %v; want %+v", f, err, tc.freight)
			}
		})
	}
	for _, tc := range []struct{ name, point, args, mention string }{
		{"a template with a region twice", "delivery.freight",
			`{"name": "t", "basis": "count", "rates": [{"regions": ["CN-SH", "CN-SH"], "first": 1, "firstUnits": 1, "additional": 1, "additionalUnits": 1}]}`,
			`region "CN-SH" is also listed in rates[0].regions[0]`},
		{"the old weight-freight arguments", "delivery.freight", `{"firstKg": 800}`, `unknown field "firstKg"`},
		{"member prices without a tag", "pricing.adjust", `{"prices": {"tea": 800}}`, "tag: required"},
		{"member basis points above 10000", "pricing.adjust", `{"tag": "member", "basisPoints": 10500}`, "basisPoints: 10500 is outside 0..10000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.Compile(kernel.Config{Revision: 2, Identities: []kernel.IdentitySpec{
				{Code: "retail", Products: []kernel.ProductRef{{Name: standardretail.Name,
					Args: map[string]json.RawMessage{tc.point: json.RawMessage(tc.args)}}}},
			}})
			var ce *kernel.ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) != 1 {
				t.Fatalf("compile = %v, want one problem", err)
			}
			if p := ce.Problems[0]; p.Kind != "bad_args" || p.Point != tc.point || !strings.Contains(p.Message, tc.mention) {
				t.Fatalf("problem = %+v, want bad_args at %s mentioning %q", p, tc.point, tc.mention)
			}
		})
	}
}
