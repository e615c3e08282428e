package standardretail_test

import (
	"cmp"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/domains/delivery"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/products/standardretail"
)

// freightCase is one rule case of testdata/freight.json. Without args the
// product's own binding arguments apply; with args, an identity's template.
type freightCase struct {
	Name     string            `json:"name"`
	Args     json.RawMessage   `json:"args"`
	Region   string            `json:"region"`
	Currency string            `json:"currency"`
	Lines    []extensions.Line `json:"lines"`
	Subtotal int64             `json:"subtotal"`
	Want     int64             `json:"want"`
	WantErr  bool              `json:"wantErr"`
	// Template that Freight.Template names; the default template's if empty.
	Template string `json:"template"`
}

func TestFreightRules(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/freight.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []freightCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases in testdata/freight.json")
	}
	defaults := bindingArgs(t, delivery.Freight.Spec().Name, standardretail.ImplFreight)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			args, template := tc.Args, tc.Template
			if args == nil {
				args, template = defaults, standardretail.DefaultTemplateName
			}
			freight, err := delivery.NewTemplateFreight(args)
			if err != nil {
				t.Fatalf("factory refused %s: %v", args, err)
			}
			region, currency := cmp.Or(tc.Region, "CN-31"), cmp.Or(tc.Currency, "CNY")
			got, err := freight(t.Context(), extensions.DeliveryRequest{
				BizCode: "retail", Lines: tc.Lines, Subtotal: extensions.Money{Amount: tc.Subtotal, Currency: currency},
				Shipping: &extensions.Address{Region: region}})
			if tc.WantErr {
				if err == nil {
					t.Fatalf("freight = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Amount != tc.Want || got.Template != template {
				t.Fatalf("freight = %+v, want %d by %s", got, tc.Want, template)
			}
		})
	}
}

// The product binds the default template as JSON; it is exactly
// DefaultFreightTemplate, and that validates.
func TestDefaultFreightTemplate(t *testing.T) {
	t.Parallel()
	args := bindingArgs(t, delivery.Freight.Spec().Name, standardretail.ImplFreight)
	const want = `{"name":"standard-retail.weight","basis":"weight",` +
		`"default":{"first":800,"firstUnits":1000,"additional":200,"additionalUnits":1000},"freeAbove":9900}`
	if string(args) != want {
		t.Fatalf("binding arguments\n got %s\nwant %s", args, want)
	}
	d := standardretail.DefaultFreightTemplate()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	decoded, err := delivery.DecodeTemplate(args)
	if err != nil {
		t.Fatal(err)
	}
	if decoded.Name != d.Name || decoded.Basis != d.Basis || decoded.FreeAbove != d.FreeAbove || len(decoded.Rates) != 0 ||
		*decoded.Default != *d.Default {
		t.Fatalf("decoded %+v, want %+v", decoded, d)
	}
	// The function returns a fresh template: a caller's change does not
	// reach the next caller.
	d.Default.First = 1
	if again := standardretail.DefaultFreightTemplate(); again.Default.First != 800 {
		t.Fatalf("defaults changed: %+v", again.Default)
	}
}

func TestFreightRefusesBadTemplates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, args, mention string }{
		{"the old weight-freight arguments", `{"firstKg": 800, "perExtraKg": 200, "freeAbove": 9900}`, `unknown field "firstKg"`},
		{"negative first charge",
			`{"name": "t", "basis": "weight", "default": {"first": -800, "firstUnits": 1000, "additional": 200, "additionalUnits": 1000}}`,
			"default.first: -800 must not be negative"},
		{"zero extra units",
			`{"name": "t", "basis": "weight", "default": {"first": 800, "firstUnits": 1000, "additional": 200, "additionalUnits": 0}}`,
			"default.additionalUnits: 0 must be positive"},
		{"unknown basis",
			`{"name": "t", "basis": "volume", "default": {"first": 800, "firstUnits": 1000, "additional": 200, "additionalUnits": 1000}}`,
			`basis: "volume"`},
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

// bindingArgs returns the arguments of the product's binding of impl at
// point, failing when the product does not bind it exactly once.
func bindingArgs(t *testing.T, point, impl string) json.RawMessage {
	t.Helper()
	var found []json.RawMessage
	for _, b := range standardretail.Product().Bindings {
		if b.Point == point {
			if b.Impl != impl {
				t.Fatalf("the product binds %s at %s, want %s", b.Impl, point, impl)
			}
			found = append(found, b.Args)
		}
	}
	if len(found) != 1 {
		t.Fatalf("the product binds %s %d times", point, len(found))
	}
	return found[0]
}
