package order

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

func TestPurchaseClaims(t *testing.T) {
	now := time.Date(2026, 12, 6, 23, 30, 0, 0, time.UTC)
	from, to := now.Add(-time.Hour), now.Add(time.Hour)
	lines := []extensions.Line{{SKU: "a", Quantity: 2, Category: "cat1"}, {SKU: "b", Quantity: 1, Category: "cat1"}, {SKU: "c", Quantity: 4, Category: "cat2"}}
	net := []int64{1800, 1000, 400}
	lim := func(l kernel.PurchaseLimit) []kernel.EffectiveLimit {
		return []kernel.EffectiveLimit{{PurchaseLimit: l, Origin: "shop"}}
	}
	cases := []struct {
		name    string
		limits  []kernel.EffectiveLimit
		want    map[string]int64 // scope|window → amount
		refused bool
	}{
		{"per sku, day", lim(kernel.PurchaseLimit{Name: "d", Scope: "sku", Window: "day", Max: 5}),
			map[string]int64{"sku:a|day:2026-12-06": 2, "sku:b|day:2026-12-06": 1, "sku:c|day:2026-12-06": 4}, false},
		{"per category, lifetime", lim(kernel.PurchaseLimit{Name: "l", Scope: "category", Window: "lifetime", Max: 5}),
			map[string]int64{"category:cat1|lifetime": 3, "category:cat2|lifetime": 4}, false},
		{"identity, restricted to skus", lim(kernel.PurchaseLimit{Name: "i", Scope: "identity", SKUs: []string{"a", "c"}, Window: "lifetime", Max: 9}),
			map[string]int64{"identity|lifetime": 6}, false},
		{"restricted to a category", lim(kernel.PurchaseLimit{Name: "i", Scope: "sku", Categories: []string{"cat2"}, Window: "lifetime", Max: 9}),
			map[string]int64{"sku:c|lifetime": 4}, false},
		{"period, inside", lim(kernel.PurchaseLimit{Name: "p", Scope: "identity", Window: "period", From: &from, To: &to, Max: 9}),
			map[string]int64{"identity|period:" + strconv.FormatInt(from.Unix(), 10): 7}, false},
		{"period, over", lim(kernel.PurchaseLimit{Name: "p", Scope: "identity", Window: "period", From: &to, To: ptrTime(to.Add(time.Hour)), Max: 9}),
			map[string]int64{}, false},
		{"amount in the order's currency", lim(kernel.PurchaseLimit{Name: "m", Scope: "identity", Window: "day", Measure: "amount", Currency: "CNY", Max: 5000}),
			map[string]int64{"identity|day:2026-12-06": 3200}, false},
		{"amount in another currency", lim(kernel.PurchaseLimit{Name: "m", Scope: "identity", Window: "day", Measure: "amount", Currency: "EUR", Max: 5000}),
			map[string]int64{}, false},
		{"per order, within", lim(kernel.PurchaseLimit{Name: "o", Scope: "sku", Window: "order", Max: 4}), map[string]int64{}, false},
		{"per order, over", lim(kernel.PurchaseLimit{Name: "o", Scope: "identity", Window: "order", Max: 4}), nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			claims, err := purchaseClaims(tc.limits, "alice", lines, net, "CNY", now)
			if tc.refused {
				var e *Error
				if !errors.As(err, &e) || e.Code != CodePurchaseLimit || e.Fields["used"] != int64(0) || e.Fields["requested"] != int64(7) {
					t.Fatalf("err %v, want purchase_limit_exceeded used 0 requested 7", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for _, c := range claims {
				if c.BuyerID != "alice" || c.LimitKey != "shop/"+tc.limits[0].Name || c.Max != tc.limits[0].Max {
					t.Fatalf("claim %+v", c)
				}
				got[c.ScopeKey+"|"+c.Window] = c.Amount
			}
			if len(got) != len(tc.want) {
				t.Fatalf("claims %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("claims %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func ptrTime(t time.Time) *time.Time { return &t }
