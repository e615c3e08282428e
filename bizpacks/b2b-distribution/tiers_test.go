package main

import (
	"context"
	"errors"
	"math"
	"math/big"
	"reflect"
	"slices"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/harness"
)

func buyer(tier string) extensions.Buyer {
	if tier == "" {
		return extensions.Buyer{ID: "agent-7"}
	}
	return extensions.Buyer{ID: "agent-7", Attrs: map[string]string{"tier": tier, "region": "east"}}
}

// bigTierPrice is TierPrice computed another way, as the oracle for prices
// near the int64 limit.
func bigTierPrice(price, bp int64) int64 {
	n := new(big.Int).Mul(big.NewInt(price), big.NewInt(10000-bp))
	n.Add(n, big.NewInt(5000))
	return n.Quo(n, big.NewInt(10000)).Int64()
}

func TestTierPrice(t *testing.T) {
	cases := []struct {
		name        string
		price, bp   int64
		want        int64
		wantErr     bool
		checkOracle bool
	}{
		{"gold, exact", 10000, 1500, 8500, false, false},
		{"gold, half rounds up", 10, 1500, 9, false, false},         // 8.5
		{"gold, .15 rounds down", 1999, 1500, 1699, false, false},   // 1699.15
		{"gold, .85 rounds up", 1, 1500, 1, false, false},           // 0.85
		{"gold, .5 of a larger price", 30, 1500, 26, false, false},  // 25.5
		{"gold, .25 rounds down", 12345, 1500, 10493, false, false}, // 10493.25
		{"silver, .76 rounds up", 3, 800, 3, false, false},          // 2.76
		{"silver, .44 rounds down", 7, 800, 6, false, false},        // 6.44
		{"silver, exact", 25, 800, 23, false, false},                // 23.0; silver never meets a half
		{"silver, .04 rounds down", 326087, 800, 300000, false, false},
		{"no discount", 12345, 0, 12345, false, false},
		{"100% off is 0, never below", 12345, 10000, 0, false, false},
		{"zero price", 0, 1500, 0, false, false},
		{"largest price, gold", math.MaxInt64, 1500, 0, false, true},
		{"largest price, no discount", math.MaxInt64, 0, math.MaxInt64, false, false},
		{"negative price", -1, 1500, 0, true, false},
		{"negative discount", 100, -1, 0, true, false},
		{"discount above 100%", 100, 10001, 0, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := TierPrice(c.price, c.bp)
			if c.wantErr {
				if err == nil {
					t.Fatalf("TierPrice(%d, %d) = %d, want an error", c.price, c.bp, got)
				}
				return
			}
			want := c.want
			if c.checkOracle {
				want = bigTierPrice(c.price, c.bp)
			}
			if err != nil || got != want {
				t.Fatalf("TierPrice(%d, %d) = %d, %v; want %d", c.price, c.bp, got, err, want)
			}
			if got < 0 || got > c.price {
				t.Fatalf("TierPrice(%d, %d) = %d, outside 0..price", c.price, c.bp, got)
			}
		})
	}
	// The rule itself, for every small price: half up on the paid price.
	for price := int64(0); price <= 2000; price++ {
		for _, bp := range []int64{0, 800, 1500, 3333, 10000} {
			if got, want := must(TierPrice(price, bp)), bigTierPrice(price, bp); got != want {
				t.Fatalf("TierPrice(%d, %d) = %d, want %d", price, bp, got, want)
			}
		}
	}
}

func must(v int64, err error) int64 {
	if err != nil {
		panic(err)
	}
	return v
}

func TestAdjust(t *testing.T) {
	lines := func(prices ...int64) []extensions.Line {
		var out []extensions.Line
		for i, p := range prices {
			out = append(out, extensions.Line{SKU: string(rune('a' + i)), Quantity: int64(i + 1), Category: "drinks", UnitPrice: p})
		}
		return out
	}
	cases := []struct {
		name      string
		sheet     extensions.PriceSheet
		wantSkip  bool
		wantFail  bool
		wantLines []extensions.Line
		wantAdj   []string
	}{
		{name: "gold", sheet: extensions.PriceSheet{Buyer: buyer("gold"), Lines: lines(10000, 10, 1999, 1)},
			wantLines: lines(8500, 9, 1699, 1), wantAdj: []string{"b2b-distribution.tier:gold"}},
		{name: "silver", sheet: extensions.PriceSheet{Buyer: buyer("silver"), Lines: lines(10000, 3, 7)},
			wantLines: lines(9200, 3, 6), wantAdj: []string{"b2b-distribution.tier:silver"}},
		{name: "earlier adjustments are kept", sheet: extensions.PriceSheet{Buyer: buyer("gold"), Lines: lines(100),
			Adjustments: []string{"tier-price:1"}},
			wantLines: lines(85), wantAdj: []string{"tier-price:1", "b2b-distribution.tier:gold"}},
		{name: "no lines", sheet: extensions.PriceSheet{Buyer: buyer("gold")},
			wantLines: []extensions.Line{}, wantAdj: []string{"b2b-distribution.tier:gold"}},
		{name: "unknown tier skips", sheet: extensions.PriceSheet{Buyer: buyer("bronze"), Lines: lines(100)}, wantSkip: true},
		{name: "tier names are exact", sheet: extensions.PriceSheet{Buyer: buyer("Gold"), Lines: lines(100)}, wantSkip: true},
		{name: "no tier skips", sheet: extensions.PriceSheet{Buyer: buyer(""), Lines: lines(100)}, wantSkip: true},
		{name: "negative price fails", sheet: extensions.PriceSheet{Buyer: buyer("gold"), Lines: lines(100, -1)}, wantFail: true},
	}
	for _, r := range harness.Both(t, newBizpack(), ".") {
		t.Run(r.Name(), func(t *testing.T) {
			for _, c := range cases {
				c.sheet.BizCode, c.sheet.Currency = identity, "CNY"
				got, err := harness.Call[extensions.PriceSheet](r, extensions.PricingAdjust, identity, c.sheet)
				var ce *harness.CallError
				switch {
				case c.wantSkip:
					if !errors.Is(err, extensions.ErrSkip) {
						t.Errorf("%s: %+v, %v; want skip", c.name, got, err)
					}
				case c.wantFail:
					if !errors.As(err, &ce) {
						t.Errorf("%s: %+v, %v; want a failed call", c.name, got, err)
					}
				case err != nil:
					t.Errorf("%s: %v", c.name, err)
				default:
					if got.Lines == nil {
						got.Lines = []extensions.Line{} // JSON null and [] are the same answer
					}
					want := c.sheet
					want.Lines, want.Adjustments = c.wantLines, c.wantAdj
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, want)
					}
				}
			}
		})
	}
}

// TestAdjustLeavesTheInputAlone calls the implementation as the platform
// does in process, with Go values and no JSON in between: the sheet it
// was given, and the arrays behind its slices, stay as they were.
func TestAdjustLeavesTheInputAlone(t *testing.T) {
	h, ok := newBizpack().Handler(extensions.PricingAdjust)
	if !ok {
		t.Fatal("pricing.adjust is not implemented")
	}
	adjust := h.(func(context.Context, extensions.PriceSheet) (extensions.PriceSheet, error))
	cases := []struct {
		name string
		tier string
	}{
		{"gold", "gold"},
		{"silver", "silver"},
		{"skipped", "bronze"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Spare capacity: an implementation that appends or writes in
			// place would show up in the arrays' hidden tails.
			lineArr := make([]extensions.Line, 2, 4)
			lineArr[0] = extensions.Line{SKU: "a", Quantity: 2, UnitPrice: 1000}
			lineArr[1] = extensions.Line{SKU: "b", Quantity: 1, UnitPrice: 15}
			adjArr := make([]string, 1, 4)
			adjArr[0] = "earlier"
			in := extensions.PriceSheet{BizCode: identity, Currency: "CNY", Buyer: buyer(c.tier), Lines: lineArr, Adjustments: adjArr}
			before := extensions.PriceSheet{BizCode: identity, Currency: "CNY", Buyer: buyer(c.tier),
				Lines: slices.Clone(lineArr), Adjustments: slices.Clone(adjArr)}

			out, err := adjust(context.Background(), in)
			if c.tier == "bronze" {
				if !errors.Is(err, extensions.ErrSkip) {
					t.Fatalf("err = %v, want skip", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, before) {
				t.Errorf("the input changed:\n got %+v\nwant %+v", in, before)
			}
			if tail := lineArr[:4][2:]; !reflect.DeepEqual(tail, make([]extensions.Line, 2)) {
				t.Errorf("the lines' spare capacity was written: %+v", tail)
			}
			if tail := adjArr[:4][1:]; !reflect.DeepEqual(tail, make([]string, 3)) {
				t.Errorf("the adjustments' spare capacity was written: %q", tail)
			}
			if err == nil {
				if &out.Lines[0] == &lineArr[0] {
					t.Error("the answer shares the input's Lines array")
				}
				// Changing the answer must not reach the input either.
				out.Lines[0].UnitPrice = -1
				out.Adjustments[0] = "changed"
				if !reflect.DeepEqual(in, before) {
					t.Errorf("the answer aliases the input: %+v", in)
				}
			}
		})
	}
}
