package pricing_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/domains/pricing"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// memberCase is one rule case of testdata/member_price.json.
type memberCase struct {
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

func TestMemberPriceRules(t *testing.T) {
	t.Parallel()
	for _, tc := range readCases[memberCase](t, "testdata/member_price.json") {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			adjust, err := pricing.NewMemberPrice(tc.Args)
			if err != nil {
				t.Fatalf("factory refused %s: %v", tc.Args, err)
			}
			// Spare capacity, so that an append or an in-place write would
			// land in the caller's arrays.
			lines := append(make([]extensions.Line, 0, len(tc.Lines)+4), tc.Lines...)
			adjustments := append(make([]string, 0, len(tc.Adjustments)+4), tc.Adjustments...)
			in := extensions.PriceSheet{BizCode: "retail", Currency: "CNY",
				Buyer: extensions.Buyer{ID: "b-1", Attrs: tc.Attrs}, Lines: lines, Adjustments: adjustments}

			out, err := adjust(t.Context(), in)

			if !slices.Equal(lines, tc.Lines) || !slices.Equal(adjustments, tc.Adjustments) {
				t.Fatalf("the input sheet was modified: lines %v, adjustments %v", lines, adjustments)
			}
			if spare := adjustments[len(adjustments):cap(adjustments)]; slices.ContainsFunc(spare, func(s string) bool { return s != "" }) {
				t.Fatalf("an adjustment was written into the input's spare capacity: %q", spare)
			}
			switch {
			case tc.WantErr:
				var ne *pricing.NegativePriceError
				if !errors.As(err, &ne) || ne.SKU != "b" || ne.UnitPrice != -1 {
					t.Fatalf("err = %v, want a *NegativePriceError for b", err)
				}
				return
			case tc.Skip:
				if !errors.Is(err, extensions.ErrSkip) {
					t.Fatalf("err = %v, out %+v; want ErrSkip (the sheet kept)", err, out)
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
				want := tc.Lines[i]
				want.UnitPrice = l.UnitPrice
				if l != want {
					t.Fatalf("line %d changed more than its price: %+v", i, l)
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

func TestMemberPriceArgumentProblems(t *testing.T) {
	t.Parallel()
	type argsCase struct {
		Name     string          `json:"name"`
		Args     json.RawMessage `json:"args"`
		Problems []string        `json:"problems"`
	}
	for _, tc := range readCases[argsCase](t, "testdata/member_price_args.json") {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			fn, err := pricing.NewMemberPrice(tc.Args)
			var ae *pricing.ArgsError
			if fn != nil || !errors.As(err, &ae) {
				t.Fatalf("factory(%s) = %v; want an *ArgsError", tc.Args, err)
			}
			if ae.Rule != "member-price" || !slices.Equal(ae.Problems, tc.Problems) {
				t.Fatalf("problems of %s:\n got %q\nwant %q", tc.Args, ae.Problems, tc.Problems)
			}
			if !strings.HasPrefix(err.Error(), "arguments: member-price: ") {
				t.Fatalf("error %q", err)
			}
		})
	}
}

func TestMemberPriceDecodesStrictly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, args, mention string }{
		{"unknown field", `{"tag": "member", "discount": 500}`, `unknown field "discount"`},
		{"basis points as a string", `{"tag": "member", "basisPoints": "9500"}`, "basisPoints"},
		{"fractional basis points", `{"tag": "member", "basisPoints": 9500.5}`, "basisPoints"},
		{"fractional price", `{"tag": "member", "prices": {"a": 12.5}}`, "prices"},
		{"not an object", `["member"]`, "arguments"},
		{"trailing data", `{"tag": "member"} {}`, "trailing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fn, err := pricing.NewMemberPrice(json.RawMessage(tc.args))
			if err == nil || fn != nil || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("factory(%s) = %v; want an error mentioning %q", tc.args, err, tc.mention)
			}
		})
	}
}

// A configured table must not leak into the defaults, nor a later change of
// the caller's map into a compiled rule.
func TestMemberPriceOwnsItsConfiguration(t *testing.T) {
	t.Parallel()
	adjust, err := pricing.NewMemberPrice(json.RawMessage(`{"tag": "member", "prices": {"a": 100}}`))
	if err != nil {
		t.Fatal(err)
	}
	d := pricing.DefaultMemberPrice()
	if d.Tag != "" || d.BasisPoints != 10000 || len(d.Prices) != 0 {
		t.Fatalf("defaults = %+v", d)
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	out, err := adjust(t.Context(), extensions.PriceSheet{Currency: "CNY", Buyer: extensions.Buyer{Attrs: map[string]string{"tags": "member"}},
		Lines: []extensions.Line{{SKU: "a", Quantity: 1, UnitPrice: 150}}})
	if err != nil || out.Lines[0].UnitPrice != 100 {
		t.Fatalf("out = %+v, %v", out, err)
	}
}

// Bound through a product, the rule keeps the pipeline's contract on top of
// the platform default, and an identity's arguments replace the binding's.
func TestMemberPriceInThePipeline(t *testing.T) {
	t.Parallel()
	k, err := kernel.Standalone(pricing.Points(), pricing.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Registry().Register(pricing.MemberPriceImpl("shop.member-price")); err != nil {
		t.Fatal(err)
	}
	if err := k.Registry().AddProduct(kernel.Product{Name: "shop", Version: "1", Priority: 10, Bindings: []kernel.Binding{
		{Point: pricing.Adjust.Spec().Name, Impl: "shop.member-price", Args: json.RawMessage(`{"tag": ""}`)},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Apply(kernel.Config{Revision: 1, Identities: []kernel.IdentitySpec{
		{Code: "plain", Products: []kernel.ProductRef{{Name: "shop"}}},
		{Code: "club", Products: []kernel.ProductRef{{Name: "shop", Args: map[string]json.RawMessage{
			pricing.Adjust.Spec().Name: json.RawMessage(`{"tag": "member", "basisPoints": 9000, "prices": {"tea": 800}}`)}}}},
	}}); err != nil {
		t.Fatal(err)
	}
	member := extensions.Buyer{ID: "b-1", Attrs: map[string]string{"tags": "member"}}
	lines := []extensions.Line{{SKU: "tea", Quantity: 2, UnitPrice: 1000}, {SKU: "cup", Quantity: 1, UnitPrice: 1999}}
	for _, tc := range []struct {
		name        string
		club        bool // the identity that opts in, else "plain"
		buyer       extensions.Buyer
		want        []int64
		adjustments []string
	}{
		{"the product's default arguments change nothing", false, member, []int64{1000, 1999}, nil},
		{"an identity opts in", true, member, []int64{800, 1799}, []string{"member-price:member"}},
		{"a non-member of that identity pays list prices", true, extensions.Buyer{ID: "b-2"}, []int64{1000, 1999}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, err := k.Begin(t.Context(), "plain")
			if tc.club {
				op, err = k.Begin(t.Context(), "club")
			}
			if err != nil {
				t.Fatal(err)
			}
			out, err := pricing.Adjust.Call(op, extensions.PriceSheet{BizCode: string(op.Identity()), Currency: "CNY", Buyer: tc.buyer, Lines: slices.Clone(lines)})
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, l := range out.Lines {
				got = append(got, l.UnitPrice)
			}
			if !slices.Equal(got, tc.want) || !slices.Equal(out.Adjustments, tc.adjustments) {
				t.Fatalf("prices %v adjustments %q, want %v %q", got, out.Adjustments, tc.want, tc.adjustments)
			}
		})
	}
	// Arguments an identity gives are checked when the configuration is
	// compiled, not when an order is priced.
	_, err = k.Compile(kernel.Config{Revision: 2, Identities: []kernel.IdentitySpec{
		{Code: "club", Products: []kernel.ProductRef{{Name: "shop", Args: map[string]json.RawMessage{
			pricing.Adjust.Spec().Name: json.RawMessage(`{"tag": "member", "basisPoints": 12000}`)}}}},
	}})
	if err == nil || !strings.Contains(err.Error(), "basisPoints: 12000 is outside 0..10000") {
		t.Fatalf("compile = %v, want the problem named", err)
	}
}
