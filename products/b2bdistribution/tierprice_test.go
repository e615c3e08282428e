package b2bdistribution_test

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/products/b2bdistribution"
)

// tierCase is one rule case of testdata/tier_price.json.
type tierCase struct {
	Name            string            `json:"name"`
	Args            json.RawMessage   `json:"args"`
	Attrs           map[string]string `json:"attrs"`
	Adjustments     []string          `json:"adjustments"`
	Lines           []extensions.Line `json:"lines"`
	Want            []int64           `json:"want"`
	WantAdjustments []string          `json:"wantAdjustments"`
	Skip            bool              `json:"skip"`
	WantErr         bool              `json:"wantErr"`
}

func TestTierPriceRules(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/tier_price.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []tierCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases in testdata/tier_price.json")
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			adjust, err := b2bdistribution.NewTierPrice(tc.Args)
			if err != nil {
				t.Fatalf("factory refused %s: %v", tc.Args, err)
			}
			// Give the input slices spare capacity, so that an append or an
			// in-place write would land in the caller's arrays.
			lines := append(make([]extensions.Line, 0, len(tc.Lines)+4), tc.Lines...)
			adjustments := append(make([]string, 0, len(tc.Adjustments)+4), tc.Adjustments...)
			in := extensions.PriceSheet{BizCode: "b2b.agent", Currency: "CNY",
				Buyer: extensions.Buyer{ID: "agent-7", Attrs: tc.Attrs}, Lines: lines, Adjustments: adjustments}

			out, err := adjust(t.Context(), in)

			if !slices.Equal(lines, tc.Lines) || !slices.Equal(adjustments, tc.Adjustments) {
				t.Fatalf("the input sheet was modified: lines %v, adjustments %v", lines, adjustments)
			}
			if spare := adjustments[len(adjustments):cap(adjustments)]; slices.ContainsFunc(spare, func(s string) bool { return s != "" }) {
				t.Fatalf("an adjustment was written into the input's spare capacity: %q", spare)
			}
			if spare := lines[len(lines):cap(lines)]; slices.ContainsFunc(spare, func(l extensions.Line) bool { return l != (extensions.Line{}) }) {
				t.Fatalf("a line was written into the input's spare capacity: %v", spare)
			}
			switch {
			case tc.WantErr:
				if err == nil || errors.Is(err, extensions.ErrSkip) {
					t.Fatalf("err = %v, want a failure", err)
				}
				return
			case tc.Skip:
				if !errors.Is(err, extensions.ErrSkip) {
					t.Fatalf("err = %v, want ErrSkip (list prices kept)", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if len(out.Lines) > 0 && &out.Lines[0] == &lines[0] {
				t.Fatal("the output shares the input's Lines array")
			}
			var got []int64
			for i, l := range out.Lines {
				got = append(got, l.UnitPrice)
				if l.SKU != tc.Lines[i].SKU || l.Quantity != tc.Lines[i].Quantity {
					t.Fatalf("line %d changed SKU or quantity: %+v", i, l)
				}
			}
			if !slices.Equal(got, tc.Want) {
				t.Fatalf("unit prices = %v, want %v", got, tc.Want)
			}
			if !slices.Equal(out.Adjustments, tc.WantAdjustments) {
				t.Fatalf("adjustments = %q, want %q", out.Adjustments, tc.WantAdjustments)
			}
			if out.BizCode != in.BizCode || out.Currency != in.Currency || out.Buyer.ID != in.Buyer.ID {
				t.Fatalf("the sheet's header changed: %+v", out)
			}
		})
	}
}

func TestTierPriceFactoryRefusesBadArguments(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, args, mention string }{
		{"blank attribute", `{"attr": " "}`, "attr"},
		{"empty table", `{"basisPoints": {}}`, "at least one level"},
		{"negative basis points", `{"basisPoints": {"1": -1}}`, `basisPoints["1"]`},
		{"above list price", `{"basisPoints": {"1": 10001}}`, "outside 0..10000"},
		{"blank level", `{"basisPoints": {"": 9000}}`, "blank level"},
		{"unknown field", `{"attr": "agentLevel", "levels": {"1": 9000}}`, `unknown field "levels"`},
		{"basis points as a string", `{"basisPoints": {"1": "9000"}}`, "basisPoints"},
		{"fractional basis points", `{"basisPoints": {"1": 9000.5}}`, "basisPoints"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fn, err := b2bdistribution.NewTierPrice(json.RawMessage(tc.args))
			if err == nil || fn != nil || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("factory(%s) = %v; want an error mentioning %q", tc.args, err, tc.mention)
			}
		})
	}
}

// A configured table must not leak into the defaults of the next binding.
func TestTierPriceDefaultsSurviveConfiguration(t *testing.T) {
	t.Parallel()
	if _, err := b2bdistribution.NewTierPrice(json.RawMessage(`{"basisPoints": {"1": 5000, "9": 100}}`)); err != nil {
		t.Fatal(err)
	}
	d := b2bdistribution.DefaultTierPrice()
	if d.Attr != "agentLevel" || len(d.BasisPoints) != 2 || d.BasisPoints["1"] != 9000 || d.BasisPoints["2"] != 9500 {
		t.Fatalf("defaults = %+v", d)
	}
}

func TestApplyBasisPointsRoundsHalfUp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ price, bp, want int64 }{
		{0, 9000, 0}, {1, 4999, 0}, {1, 5000, 1}, {2, 2500, 1}, {6, 2500, 2}, {10, 1, 0}, {5000, 1, 1}, {4999, 1, 0},
		{1999, 9000, 1799}, {1999, 9500, 1899}, {25, 9000, 23}, {9223372036854775807, 10000, 9223372036854775807},
	} {
		if got := b2bdistribution.ApplyBasisPoints(tc.price, tc.bp); got != tc.want {
			t.Errorf("ApplyBasisPoints(%d, %d) = %d, want %d", tc.price, tc.bp, got, tc.want)
		}
	}
}
