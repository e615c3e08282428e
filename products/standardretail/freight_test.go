package standardretail_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/products/standardretail"
)

// freightCase is one rule case of testdata/weight_freight.json.
type freightCase struct {
	Name     string            `json:"name"`
	Args     json.RawMessage   `json:"args"`
	Lines    []extensions.Line `json:"lines"`
	Subtotal int64             `json:"subtotal"`
	Want     int64             `json:"want"`
	WantErr  bool              `json:"wantErr"`
}

func TestWeightFreightRules(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/weight_freight.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []freightCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases in testdata/weight_freight.json")
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			freight, err := standardretail.NewWeightFreight(tc.Args)
			if err != nil {
				t.Fatalf("factory refused %s: %v", tc.Args, err)
			}
			got, err := freight(t.Context(), extensions.DeliveryRequest{
				BizCode: "retail", Lines: tc.Lines, Subtotal: extensions.Money{Amount: tc.Subtotal, Currency: "CNY"},
				Shipping: &extensions.Address{Region: "CN-31"}})
			if tc.WantErr {
				if err == nil {
					t.Fatalf("freight = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Amount != tc.Want || got.Template != standardretail.ImplWeightFreight {
				t.Fatalf("freight = %+v, want %d by %s", got, tc.Want, standardretail.ImplWeightFreight)
			}
		})
	}
}

func TestWeightFreightFactoryRefusesBadArguments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, args, mention string
	}{
		{"negative first kilogram", `{"firstKg": -1}`, "firstKg"},
		{"negative extra kilogram", `{"perExtraKg": -200}`, "perExtraKg"},
		{"negative threshold", `{"freeAbove": -1}`, "freeAbove"},
		{"unknown field", `{"firstKg": 800, "perKg": 200}`, `unknown field "perKg"`},
		{"amount as a string", `{"firstKg": "800"}`, "firstKg"},
		{"fractional amount", `{"firstKg": 8.5}`, "firstKg"},
		{"not an object", `[800]`, "arguments"},
		{"trailing data", `{"firstKg": 800} {}`, "trailing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fn, err := standardretail.NewWeightFreight(json.RawMessage(tc.args))
			if err == nil || fn != nil {
				t.Fatalf("factory accepted %s", tc.args)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
}

func TestDefaultWeightFreightIsValid(t *testing.T) {
	t.Parallel()
	d := standardretail.DefaultWeightFreight()
	if d != (standardretail.WeightFreight{FirstKg: 800, PerExtraKg: 200, FreeAbove: 9900}) {
		t.Fatalf("defaults = %+v", d)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
}
