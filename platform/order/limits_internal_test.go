package order

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/store"
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
			claims, err := purchaseClaims(tc.limits, Buyer{ID: "alice"}, nil, lines, net, nil, "CNY", now)
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

// TestLimitHolder: whose counter a claim increments, per buyer, org and
// attribute, namespaced so that no buyer id meets an org or a value, and
// bounded in length.
func TestLimitHolder(t *testing.T) {
	long := strings.Repeat("x", 200)
	sum := sha256.Sum256([]byte(long))
	hashed := "attr:code#" + base64.RawURLEncoding.EncodeToString(sum[:])
	attrs := map[string]any{"phone": "+8613800000001", "count": int64(7), "code": long, "rate": 1.5, "gift": true}
	cases := []struct {
		name  string
		per   string
		buyer Buyer
		want  string
		code  string // a refusal's code
	}{
		{"default is the buyer", "", Buyer{ID: "alice", OwnerOrg: "shop-1"}, "alice", ""},
		{"buyer", "buyer", Buyer{ID: "alice", OwnerOrg: "shop-1"}, "alice", ""},
		{"org", "org", Buyer{ID: "alice", OwnerOrg: "shop-1"}, "org=shop-1", ""},
		{"org, buyer without one", "org", Buyer{ID: "alice"}, "alice", ""},
		{"org, long, hashed", "org", Buyer{ID: "alice", OwnerOrg: long}, "org#" + base64.RawURLEncoding.EncodeToString(sum[:]), ""},
		{"string attribute, as stored", "attr:phone", Buyer{ID: "alice"}, "attr:phone=+8613800000001", ""},
		{"integer attribute, canonical", "attr:count", Buyer{ID: "alice"}, "attr:count=7", ""},
		{"number attribute, canonical", "attr:rate", Buyer{ID: "alice"}, "attr:rate=1.5", ""},
		{"boolean attribute", "attr:gift", Buyer{ID: "alice"}, "attr:gift=true", ""},
		{"long value, hashed", "attr:code", Buyer{ID: "alice"}, hashed, ""},
		{"attribute missing", "attr:note", Buyer{ID: "alice"}, "", CodeAttributeInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := limitHolder(kernel.PurchaseLimit{Name: "l", Per: tc.per}, tc.buyer, attrs)
			if tc.code != "" {
				var e *Error
				if !errors.As(err, &e) || e.Code != tc.code || e.Fields["field"] != "attributes.note" {
					t.Fatalf("err %v, want %s naming attributes.note", err, tc.code)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("holder %q %v, want %q", got, err, tc.want)
			}
			if len(got) > maxHolderKey {
				t.Fatalf("holder is %d bytes, at most %d", len(got), maxHolderKey)
			}
		})
	}
	// Claims carry the holder and the per, and a refusal names the per.
	lines := []extensions.Line{{SKU: "a", Quantity: 2, Category: "cat1"}}
	limits := []kernel.EffectiveLimit{{PurchaseLimit: kernel.PurchaseLimit{Name: "p", Scope: "identity", Window: "day", Per: "attr:phone", Max: 3}, Origin: "shop"}}
	claims, err := purchaseClaims(limits, Buyer{ID: "bob"}, attrs, lines, []int64{100}, nil, "CNY", time.Now())
	if err != nil || len(claims) != 1 || claims[0].BuyerID != "attr:phone=+8613800000001" || claims[0].Per != "attr:phone" {
		t.Fatalf("claims %+v %v", claims, err)
	}
	e := limitError(&store.PurchaseLimitError{Claim: claims[0], Used: 3, Requested: 2})
	if e.Fields["per"] != "attr:phone" || !strings.Contains(e.Message, "orders with this phone may buy at most 3") {
		t.Fatalf("refusal %+v", e)
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

// A split order's claims are counted whole and shared over the sub-orders
// by their lines.
func TestPurchaseClaimsShares(t *testing.T) {
	lines := []extensions.Line{{SKU: "a", Quantity: 2, Category: "cat1"}, {SKU: "b", Quantity: 1, Category: "cat1"}, {SKU: "c", Quantity: 4, Category: "cat1"}}
	parts := []part{{location: "x", lines: []int{0, 2}}, {location: "y", lines: []int{1}}}
	owners := lineOwners("P", parts, len(lines))
	if lineOwners("P", parts[:1], len(lines)) != nil {
		t.Fatal("an order that does not split has line owners")
	}
	limits := []kernel.EffectiveLimit{{PurchaseLimit: kernel.PurchaseLimit{Name: "c", Scope: "category", Window: "lifetime", Max: 9}, Origin: "shop"},
		{PurchaseLimit: kernel.PurchaseLimit{Name: "s", Scope: "sku", Window: "lifetime", Max: 9}, Origin: "shop"}}
	claims, err := purchaseClaims(limits, Buyer{ID: "alice"}, nil, lines, []int64{1, 1, 1}, owners, "CNY", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range claims {
		got[c.LimitKey+"|"+c.ScopeKey] = fmt.Sprintf("%d=%v", c.Amount, c.Shares)
	}
	want := map[string]string{
		"shop/c|category:cat1": "7=[{P-01 6} {P-02 1}]",
		"shop/s|sku:a":         "2=[{P-01 2}]",
		"shop/s|sku:b":         "1=[{P-02 1}]",
		"shop/s|sku:c":         "4=[{P-01 4}]",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("claims %v, want %v", got, want)
	}
}
