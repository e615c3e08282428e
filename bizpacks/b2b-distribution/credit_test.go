package main

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/harness"
)

func line(sku string, quantity, listPrice int64) extensions.Line {
	return extensions.Line{SKU: sku, Quantity: quantity, UnitPrice: listPrice}
}

func TestCreditLimit(t *testing.T) {
	const deny = CreditLimitExceeded
	cases := []struct {
		name  string
		tier  string
		lines []extensions.Line
		want  string // "allow", a denial code, or "fail"
		// reasonHas are substrings the denial's reason must contain.
		reasonHas []string
	}{
		// gold: 1176471 × 0.85 = 1000000.35 → 1000000; 1176472 → 1000001.2 → 1000001.
		{name: "gold at exactly the limit", tier: "gold", lines: []extensions.Line{line("a", 1, 1176471)}, want: "allow"},
		{name: "gold one unit over", tier: "gold", lines: []extensions.Line{line("a", 1, 1176472)}, want: deny,
			reasonHas: []string{"tier gold", "1000001", "1 above", "1000000"}},
		{name: "gold is checked at tier prices, not list prices", tier: "gold",
			lines: []extensions.Line{line("a", 1, 1_100_000)}, want: "allow"}, // 935000
		// Per unit rounding, as Adjust prices it: 10 → 8.5 → 9, so 9 × 111111 = 999999.
		{name: "gold rounds per unit price", tier: "gold", lines: []extensions.Line{line("a", 111111, 10)}, want: "allow"},
		{name: "gold rounds per unit price, over", tier: "gold", lines: []extensions.Line{line("a", 111112, 10)}, want: deny,
			reasonHas: []string{"1000008"}},
		// silver: 326087 × 0.92 = 300000.04 → 300000; 326088 → 300000.96 → 300001.
		{name: "silver at exactly the limit", tier: "silver", lines: []extensions.Line{line("a", 1, 326087)}, want: "allow"},
		{name: "silver one unit over", tier: "silver", lines: []extensions.Line{line("a", 1, 326088)}, want: deny,
			reasonHas: []string{"tier silver", "300001", "300000"}},
		{name: "silver over the limit across lines", tier: "silver",
			lines: []extensions.Line{line("a", 2, 100000), line("b", 1, 126088)}, want: deny, reasonHas: []string{"300001"}}, // 184000 + 116001
		{name: "silver within the limit across lines", tier: "silver",
			lines: []extensions.Line{line("a", 2, 100000), line("b", 1, 100000)}, want: "allow"}, // 276000
		{name: "no tier at exactly the default limit", lines: []extensions.Line{line("a", 2, 50000)}, want: "allow"},
		{name: "no tier one unit over", lines: []extensions.Line{line("a", 1, 100001)}, want: deny,
			reasonHas: []string{"without a tier", "100001", "100000"}},
		{name: "unknown tier gets the default limit at list prices", tier: "bronze",
			lines: []extensions.Line{line("a", 3, 33334)}, want: deny, reasonHas: []string{"100002"}},
		{name: "an empty order", tier: "gold", want: "allow"},
		{name: "non-positive quantities count as nothing", lines: []extensions.Line{line("a", 0, 100001), line("b", -3, 100001)}, want: "allow"},
		{name: "a line total beyond int64 is over", tier: "gold", lines: []extensions.Line{line("a", math.MaxInt64, 2)}, want: deny,
			reasonHas: []string{"more than"}},
		{name: "an order total beyond int64 is over", tier: "gold",
			lines: []extensions.Line{line("a", 1, math.MaxInt64), line("b", 1, math.MaxInt64)}, want: deny},
		{name: "a negative price fails", tier: "gold", lines: []extensions.Line{line("a", 1, -5)}, want: "fail"},
	}
	for _, r := range harness.Both(t, newBizpack(), ".") {
		t.Run(r.Name(), func(t *testing.T) {
			for _, c := range cases {
				req := extensions.ValidateRequest{BizCode: identity, Buyer: buyer(c.tier), Lines: c.lines}
				v, err := harness.Call[extensions.Verdict](r, extensions.OrderValidate, identity, req)
				var ce *harness.CallError
				switch c.want {
				case "fail":
					if !errors.As(err, &ce) {
						t.Errorf("%s: %+v, %v; want a failed call", c.name, v, err)
					}
				case "allow":
					if err != nil || !v.Allow {
						t.Errorf("%s: %+v, %v; want allow", c.name, v, err)
					}
				default:
					if err != nil || v.Allow || v.Code != c.want {
						t.Errorf("%s: %+v, %v; want deny %s", c.name, v, err, c.want)
					}
					for _, s := range c.reasonHas {
						if !strings.Contains(v.Reason, s) {
							t.Errorf("%s: reason %q does not contain %q", c.name, v.Reason, s)
						}
					}
				}
			}
		})
	}
}

// TestCreditLimitMatchesAdjust: the credit check counts exactly what the
// agent pays after Adjust. With the limit set to that amount the order
// passes; one unit less and it is refused.
func TestCreditLimitMatchesAdjust(t *testing.T) {
	orders := []struct {
		name  string
		bp    int64
		lines []extensions.Line
	}{
		{"halves", 1500, []extensions.Line{line("a", 7, 10), line("b", 3, 30), line("c", 11, 1)}},
		{"odd discount", 3333, []extensions.Line{line("a", 13, 997), line("b", 1, 1)}},
		{"no discount", 0, []extensions.Line{line("a", 2, 12345)}},
		{"full discount", 10000, []extensions.Line{line("a", 5, 999)}},
	}
	for _, o := range orders {
		t.Run(o.name, func(t *testing.T) {
			base, err := NewTiers(Config{Attr: "tier", Tiers: map[string]Tier{"t": {DiscountBP: o.bp}}})
			if err != nil {
				t.Fatal(err)
			}
			sheet, err := base.Adjust(context.Background(), extensions.PriceSheet{Buyer: buyer("t"), Lines: o.lines})
			if err != nil {
				t.Fatal(err)
			}
			var paid int64
			for _, l := range sheet.Lines {
				paid += l.Quantity * l.UnitPrice
			}
			for _, c := range []struct {
				limit int64
				allow bool
			}{{paid, true}, {paid - 1, false}} {
				if c.limit < 0 {
					continue
				}
				tiers, err := NewTiers(Config{Attr: "tier", Tiers: map[string]Tier{"t": {DiscountBP: o.bp, CreditLimit: c.limit}}})
				if err != nil {
					t.Fatal(err)
				}
				v, err := tiers.Validate(context.Background(), extensions.ValidateRequest{Buyer: buyer("t"), Lines: o.lines})
				if err != nil || v.Allow != c.allow {
					t.Errorf("limit %d, paid %d: %+v, %v; want allow=%v", c.limit, paid, v, err, c.allow)
				}
			}
		})
	}
}

func TestDoneContext(t *testing.T) {
	tiers, err := NewTiers(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		call func() error
	}{
		{"adjust", func() error {
			_, err := tiers.Adjust(ctx, extensions.PriceSheet{Buyer: buyer("gold")})
			return err
		}},
		{"validate", func() error {
			_, err := tiers.Validate(ctx, extensions.ValidateRequest{Buyer: buyer("gold")})
			return err
		}},
	}
	for _, c := range cases {
		if err := c.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want context.Canceled", c.name, err)
		}
	}
}
