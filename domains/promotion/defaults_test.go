package promotion_test

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// TestStack runs the stacking cases of testdata/stack.json through the
// promotion.stack default of a Book whose group order is the case's.
func TestStack(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/stack.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name         string                 `json:"name"`
		Groups       []string               `json:"groups"`
		Subtotal     int64                  `json:"subtotal"`
		Lines        []extensions.Line      `json:"lines"`
		Candidates   []extensions.Candidate `json:"candidates"`
		Applied      []string               `json:"applied"`
		Discounts    []int64                `json:"discounts"`
		Discount     int64                  `json:"discount"`
		FreeShipping bool                   `json:"freeShipping"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	// Without a Book: no candidates, groups alphabetically.
	plain, err := kernel.Standalone(promotion.Points(), promotion.Defaults(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			book := promotion.NewBook(nil)
			if err := book.Use(nil, tc.Groups); err != nil {
				t.Fatal(err)
			}
			k, err := kernel.Standalone(promotion.Points(), promotion.Defaults(book))
			if err != nil {
				t.Fatal(err)
			}
			subtotal := tc.Subtotal
			if subtotal == 0 {
				for _, l := range tc.Lines {
					subtotal += l.UnitPrice * l.Quantity
				}
			}
			req := extensions.StackRequest{
				Order:      extensions.PromotionRequest{Lines: tc.Lines, Subtotal: extensions.Money{Amount: subtotal, Currency: "CNY"}},
				Candidates: tc.Candidates}
			kernels := []*kernel.Kernel{k}
			if len(tc.Groups) == 0 {
				kernels = append(kernels, plain)
			}
			for _, k := range kernels {
				op, _ := k.Begin(t.Context(), "")
				got, err := promotion.Stack.Call(op, req)
				if err != nil {
					t.Fatal(err)
				}
				ids, discounts := []string{}, []int64{}
				var sum int64
				for _, c := range got.Applied {
					ids = append(ids, c.ID)
					discounts = append(discounts, c.Discount)
					sum += c.Discount
				}
				if !slices.Equal(ids, tc.Applied) {
					t.Errorf("applied %v, want %v", ids, tc.Applied)
				}
				if tc.Discounts != nil && !slices.Equal(discounts, tc.Discounts) {
					t.Errorf("applied discounts %v, want %v", discounts, tc.Discounts)
				}
				if got.Discount != tc.Discount || got.FreeShipping != tc.FreeShipping {
					t.Errorf("discount %d free %v, want %d %v", got.Discount, got.FreeShipping, tc.Discount, tc.FreeShipping)
				}
				if sum != got.Discount || got.Discount > subtotal {
					t.Errorf("applied discounts add up to %d, total %d, subtotal %d", sum, got.Discount, subtotal)
				}
			}
			// With no implementation of candidates, nothing is gathered.
			op, _ := plain.Begin(t.Context(), "")
			all, err := promotion.Candidates.Call(op, extensions.PromotionRequest{})
			if err != nil || len(all) != 0 {
				t.Errorf("candidates = %v, %v", all, err)
			}
		})
	}
}
