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

func TestBestPerGroup(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/stack.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name         string                 `json:"name"`
		Subtotal     int64                  `json:"subtotal"`
		Candidates   []extensions.Candidate `json:"candidates"`
		Applied      []string               `json:"applied"`
		Discount     int64                  `json:"discount"`
		FreeShipping bool                   `json:"freeShipping"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	k, err := kernel.Standalone(promotion.Points(), promotion.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			op, _ := k.Begin(t.Context(), "")
			got, err := promotion.Stack.Call(op, extensions.StackRequest{
				Order:      extensions.PromotionRequest{Subtotal: extensions.Money{Amount: tc.Subtotal, Currency: "CNY"}},
				Candidates: tc.Candidates})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, c := range got.Applied {
				ids = append(ids, c.ID)
			}
			if !slices.Equal(ids, tc.Applied) && !(len(ids) == 0 && len(tc.Applied) == 0) {
				t.Errorf("applied %v, want %v", ids, tc.Applied)
			}
			if got.Discount != tc.Discount || got.FreeShipping != tc.FreeShipping {
				t.Errorf("discount %d free %v, want %d %v", got.Discount, got.FreeShipping, tc.Discount, tc.FreeShipping)
			}
			// With no implementation of candidates, nothing is gathered.
			all, err := promotion.Candidates.Call(op, extensions.PromotionRequest{})
			if err != nil || len(all) != 0 {
				t.Errorf("candidates = %v, %v", all, err)
			}
		})
	}
}
