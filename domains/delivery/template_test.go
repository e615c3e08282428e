package delivery_test

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/domains/delivery"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// templateCases is testdata/template.json: named templates and the orders
// charged by them.
type templateCases struct {
	Templates map[string]json.RawMessage `json:"templates"`
	Cases     []struct {
		Name     string            `json:"name"`
		Template string            `json:"template"`
		Region   *string           `json:"region"` // absent: no shipping address
		Currency string            `json:"currency"`
		Lines    []extensions.Line `json:"lines"`
		Subtotal int64             `json:"subtotal"`
		Want     int64             `json:"want"`
		// WantErr is the refusal expected: no_rate, currency, line or overflow.
		WantErr   string `json:"wantErr"`
		ErrRegion string `json:"errRegion"`
	} `json:"cases"`
}

func TestTemplateFreight(t *testing.T) {
	t.Parallel()
	var data templateCases
	readJSON(t, "testdata/template.json", &data)
	if len(data.Cases) == 0 {
		t.Fatal("no cases in testdata/template.json")
	}
	for _, tc := range data.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			args, ok := data.Templates[tc.Template]
			if !ok {
				t.Fatalf("no template %q", tc.Template)
			}
			freight, err := delivery.NewTemplateFreight(args)
			if err != nil {
				t.Fatalf("factory refused %s: %v", args, err)
			}
			tmpl, err := delivery.DecodeTemplate(args)
			if err != nil {
				t.Fatal(err)
			}
			currency := tc.Currency
			if currency == "" {
				currency = "CNY"
			}
			req := extensions.DeliveryRequest{BizCode: "retail", Lines: tc.Lines,
				Subtotal: extensions.Money{Amount: tc.Subtotal, Currency: currency}}
			if tc.Region != nil {
				req.Shipping = &extensions.Address{Region: *tc.Region, City: "somewhere"}
			}
			got, err := freight(t.Context(), req)
			// The factory's function and Compute are the same rule.
			direct, derr := delivery.Compute(tmpl, req)
			if direct != got || (err == nil) != (derr == nil) || err != nil && err.Error() != derr.Error() {
				t.Fatalf("factory %+v, %v; Compute %+v, %v", got, err, direct, derr)
			}
			if got.Template != tmpl.Name {
				t.Fatalf("freight names template %q, want %q", got.Template, tmpl.Name)
			}
			switch tc.WantErr {
			case "":
				if err != nil {
					t.Fatal(err)
				}
				if got.Amount != tc.Want {
					t.Fatalf("freight = %d, want %d", got.Amount, tc.Want)
				}
				return
			case "no_rate":
				var e *delivery.NoRateError
				if !errors.As(err, &e) || e.Template != tmpl.Name || e.Region != tc.ErrRegion || e.Code() != "region_not_served" {
					t.Fatalf("err = %#v, want a *NoRateError naming region %q", err, tc.ErrRegion)
				}
			case "currency":
				var e *delivery.CurrencyError
				if !errors.As(err, &e) || e.Want != tmpl.Currency || e.Got != currency {
					t.Fatalf("err = %#v, want a *CurrencyError", err)
				}
			case "line":
				var e *delivery.LineError
				if !errors.As(err, &e) || e.SKU != tc.Lines[0].SKU {
					t.Fatalf("err = %#v, want a *LineError", err)
				}
			case "overflow":
				var e *delivery.OverflowError
				if !errors.As(err, &e) || e.Template != tmpl.Name {
					t.Fatalf("err = %#v, want an *OverflowError", err)
				}
			default:
				t.Fatalf("unknown wantErr %q", tc.WantErr)
			}
			if got.Amount != 0 {
				t.Fatalf("a refusal charged %d", got.Amount)
			}
		})
	}
}

func TestTemplateValidation(t *testing.T) {
	t.Parallel()
	var cases []struct {
		Name     string          `json:"name"`
		Template json.RawMessage `json:"template"`
		Problems []string        `json:"problems"`
	}
	readJSON(t, "testdata/template_invalid.json", &cases)
	if len(cases) == 0 {
		t.Fatal("no cases in testdata/template_invalid.json")
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			fn, err := delivery.NewTemplateFreight(tc.Template)
			var te *delivery.TemplateError
			if fn != nil || !errors.As(err, &te) {
				t.Fatalf("factory(%s) = %v; want a *TemplateError", tc.Template, err)
			}
			if !slices.Equal(te.Problems, tc.Problems) {
				t.Fatalf("problems:\n got %q\nwant %q", te.Problems, tc.Problems)
			}
			if !strings.HasPrefix(err.Error(), "arguments: freight template ") {
				t.Fatalf("error %q", err)
			}
		})
	}
}

func TestTemplateDecodesStrictly(t *testing.T) {
	t.Parallel()
	const rate = `"first": 800, "firstUnits": 1000, "additional": 200, "additionalUnits": 1000`
	for _, tc := range []struct{ name, args, mention string }{
		{"no arguments", ``, "a freight template is required"},
		{"null", `null`, "a freight template is required"},
		{"unknown field", `{"name": "t", "basis": "weight", "default": {` + rate + `}, "freeBelow": 1}`, `unknown field "freeBelow"`},
		{"unknown field in a rate", `{"name": "t", "basis": "weight", "rates": [{"regions": ["CN-SH"], ` + rate + `, "per": 1}]}`, `unknown field "per"`},
		{"regions on the default", `{"name": "t", "basis": "weight", "default": {"regions": ["CN-SH"], ` + rate + `}}`, `unknown field "regions"`},
		{"an amount as a string", `{"name": "t", "basis": "weight", "default": {"first": "800", "firstUnits": 1000, "additional": 200, "additionalUnits": 1000}}`, "first"},
		{"a fractional amount", `{"name": "t", "basis": "weight", "default": {"first": 8.5, "firstUnits": 1000, "additional": 200, "additionalUnits": 1000}}`, "first"},
		{"regions as a string", `{"name": "t", "basis": "weight", "rates": [{"regions": "CN-SH", ` + rate + `}]}`, "regions"},
		{"not an object", `[1]`, "arguments"},
		{"trailing data", `{"name": "t", "basis": "weight", "default": {` + rate + `}} {}`, "trailing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fn, err := delivery.NewTemplateFreight(json.RawMessage(tc.args))
			if err == nil || fn != nil || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("factory(%s) = %v; want an error mentioning %q", tc.args, err, tc.mention)
			}
		})
	}
}

// A template survives JSON both ways: what a product marshals as its
// default arguments is what the factory decodes.
func TestTemplateRoundTrips(t *testing.T) {
	t.Parallel()
	var data templateCases
	readJSON(t, "testdata/template.json", &data)
	for name, args := range data.Templates {
		first, err := delivery.DecodeTemplate(args)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := json.Marshal(first)
		if err != nil {
			t.Fatal(err)
		}
		again, err := delivery.DecodeTemplate(b)
		if err != nil || !reflect.DeepEqual(first, again) {
			t.Fatalf("%s: %s decodes to %+v, %v; want %+v", name, b, again, err, first)
		}
	}
}

// Bound through a product, a template answers delivery.freight; an identity
// replaces it with its own through its ProductRef, checked at compile; and a
// refusal reaches the platform as the typed error inside the kernel's.
func TestTemplateFreightThroughTheKernel(t *testing.T) {
	t.Parallel()
	k, err := kernel.Standalone(delivery.Points(), delivery.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Registry().Register(delivery.TemplateFreight("shop.freight")); err != nil {
		t.Fatal(err)
	}
	point := delivery.Freight.Spec().Name
	if err := k.Registry().AddProduct(kernel.Product{Name: "shop", Version: "1", Priority: 10, Bindings: []kernel.Binding{
		{Point: point, Impl: "shop.freight", Args: json.RawMessage(
			`{"name": "shop-flat", "basis": "count", "default": {"first": 500, "firstUnits": 1, "additional": 0, "additionalUnits": 1}}`)},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
		{Code: "shop", Products: []kernel.ProductRef{{Name: "shop"}}},
		{Code: "local", Products: []kernel.ProductRef{{Name: "shop", Args: map[string]json.RawMessage{point: json.RawMessage(
			`{"name": "local-sh", "basis": "count", "rates": [{"regions": ["CN-SH"], "first": 300, "firstUnits": 2, "additional": 100, "additionalUnits": 1}]}`)}}}},
	}}); err != nil {
		t.Fatal(err)
	}
	order := func(region string) extensions.DeliveryRequest {
		return extensions.DeliveryRequest{Shipping: &extensions.Address{Region: region},
			Lines: []extensions.Line{{SKU: "a", Quantity: 3}}, Subtotal: extensions.Money{Amount: 1000, Currency: "CNY"}}
	}
	for _, tc := range []struct {
		name   string
		local  bool
		region string
		want   extensions.Freight
		refuse string // the region a *NoRateError names
	}{
		{"the product's template", false, "CN-XZ", extensions.Freight{Amount: 500, Template: "shop-flat"}, ""},
		{"the identity's own template", true, "CN-SH", extensions.Freight{Amount: 400, Template: "local-sh"}, ""},
		{"the identity does not ship elsewhere", true, "CN-XZ", extensions.Freight{}, "CN-XZ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, err := k.Begin(t.Context(), "shop")
			if tc.local {
				op, err = k.Begin(t.Context(), "local")
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := delivery.Freight.Call(op, order(tc.region))
			if tc.refuse != "" {
				var nr *delivery.NoRateError
				var ee *kernel.ExtensionError
				if !errors.As(err, &nr) || nr.Region != tc.refuse || nr.Template != "local-sh" || !errors.As(err, &ee) || ee.Impl != "shop.freight" {
					t.Fatalf("err = %v, want a *NoRateError for %s inside the kernel's error", err, tc.refuse)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("freight = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	_, err = k.Compile(kernel.Config{Revision: 2, Identities: []kernel.IdentitySpec{
		{Code: "local", Products: []kernel.ProductRef{{Name: "shop", Args: map[string]json.RawMessage{point: json.RawMessage(
			`{"name": "bad", "basis": "count", "default": {"first": 300, "firstUnits": 0, "additional": 100, "additionalUnits": 1}}`)}}}},
	}})
	if err == nil || !strings.Contains(err.Error(), "default.firstUnits: 0 must be positive") {
		t.Fatalf("compile = %v, want the template's problem named", err)
	}
}
