package promotion_test

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// decodePromotion reads a promotion of a test case over the defaults the
// cases leave out: CNY, group "store", enabled.
func decodePromotion(t *testing.T, raw json.RawMessage) promotion.Promotion {
	t.Helper()
	p := promotion.Promotion{Currency: "CNY", Group: "store", Enabled: true}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("promotion %s: %v", raw, err)
	}
	return p
}

// TestRules runs the rule cases of testdata/rules.json: each installs its
// promotions in a Book and asks promotion.candidates about one order.
func TestRules(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/rules.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name             string                 `json:"name"`
		Now              time.Time              `json:"now"`
		Promotions       []json.RawMessage      `json:"promotions"`
		BizCode          string                 `json:"bizCode"`
		Channel          string                 `json:"channel"`
		Buyer            extensions.Buyer       `json:"buyer"`
		Lines            []extensions.Line      `json:"lines"`
		Coupons          []string               `json:"coupons"`
		CouponPromotions map[string]string      `json:"couponPromotions"`
		Want             []extensions.Candidate `json:"want"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			now := tc.Now
			if now.IsZero() {
				now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
			}
			book := promotion.NewBook(func() time.Time { return now })
			var ps []promotion.Promotion
			for _, r := range tc.Promotions {
				ps = append(ps, decodePromotion(t, r))
			}
			if err := book.Use(ps, nil); err != nil {
				t.Fatal(err)
			}
			k, err := kernel.Standalone(promotion.Points(), promotion.Defaults(book))
			if err != nil {
				t.Fatal(err)
			}
			biz := tc.BizCode
			if biz == "" {
				biz = "retail"
			}
			var subtotal int64
			for _, l := range tc.Lines {
				subtotal += l.UnitPrice * l.Quantity
			}
			op, _ := k.Begin(t.Context(), "")
			res, err := promotion.Candidates.Call(op, extensions.PromotionRequest{BizCode: biz, Channel: tc.Channel, Buyer: tc.Buyer,
				Lines: tc.Lines, Coupons: tc.Coupons, CouponPromotions: tc.CouponPromotions,
				Subtotal: extensions.Money{Amount: subtotal, Currency: "CNY"}})
			if err != nil {
				t.Fatal(err)
			}
			got := []extensions.Candidate{}
			for _, r := range res {
				got = append(got, r.Items...)
			}
			want := tc.Want
			if want == nil {
				want = []extensions.Candidate{}
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Errorf("candidates\n got %s\nwant %s", g, w)
			}
		})
	}
}

// TestValidate runs testdata/validate.json: the fields each promotion is
// refused for, exactly.
func TestValidate(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/validate.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name      string          `json:"name"`
		Promotion json.RawMessage `json:"promotion"`
		Problems  []string        `json:"problems"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			p := decodePromotion(t, tc.Promotion)
			err := p.Validate()
			fields := []string{}
			if err != nil {
				var inv *promotion.InvalidPromotionError
				if !errors.As(err, &inv) {
					t.Fatalf("error %T %v, want *InvalidPromotionError", err, err)
				}
				for _, pr := range inv.Problems {
					if pr.Message == "" {
						t.Errorf("problem of %s has no message", pr.Field)
					}
					fields = append(fields, pr.Field)
				}
				if inv.ID != p.ID {
					t.Errorf("error names %q, want %q", inv.ID, p.ID)
				}
			}
			if !slices.Equal(fields, tc.Problems) {
				t.Errorf("problems %v (%v), want %v", fields, err, tc.Problems)
			}
			// Use refuses what Validate refuses.
			if useErr := promotion.NewBook(nil).Use([]promotion.Promotion{p}, nil); (useErr == nil) != (err == nil) {
				t.Errorf("Use = %v, Validate = %v", useErr, err)
			}
		})
	}
}

// Readers of a Book never see a half-installed snapshot while it is
// replaced and promotions are marked exhausted (run with -race).
func TestBookConcurrentReaders(t *testing.T) {
	t.Parallel()
	book := promotion.NewBook(nil)
	mk := func(amount int64) []promotion.Promotion {
		return []promotion.Promotion{
			{ID: "a", Kind: promotion.AmountOff, Params: promotion.Params{Amount: amount}, Group: "g", Currency: "CNY", Enabled: true},
			{ID: "b", Kind: promotion.AmountOff, Params: promotion.Params{Amount: amount}, Group: "h", Currency: "CNY", Enabled: true},
		}
	}
	if err := book.Use(mk(1), nil); err != nil {
		t.Fatal(err)
	}
	req := extensions.PromotionRequest{Lines: []extensions.Line{{SKU: "A", Quantity: 1, UnitPrice: 1000}},
		Subtotal: extensions.Money{Amount: 1000, Currency: "CNY"}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				cs := book.Offer(req)
				for _, c := range cs {
					if c.Discount != cs[0].Discount {
						t.Errorf("one offer mixes snapshots: %v", cs)
						return
					}
				}
				_ = book.Promotions()
				_ = book.GroupOrder()
			}
		})
	}
	for i := range 200 {
		if err := book.Use(mk(int64(i%7+1)), []string{"h", "g"}); err != nil {
			t.Error(err)
		}
		book.MarkExhausted("a")
	}
	close(done)
	wg.Wait()
	if !book.Exhausted("a") || book.Exhausted("b") {
		t.Errorf("exhausted a %v b %v, want true false", book.Exhausted("a"), book.Exhausted("b"))
	}
	if cs := book.Offer(req); len(cs) != 1 || cs[0].ID != "promo:b" {
		t.Errorf("offer with a exhausted: %v", cs)
	}
}
