package stock_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

func TestNearestByPriority(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/route.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name    string                  `json:"name"`
		Request extensions.RouteRequest `json:"request"`
		Want    string                  `json:"want"`
		Error   string                  `json:"error"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	k, err := kernel.Standalone(stock.Points(), stock.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			op, _ := k.Begin(t.Context(), "")
			got, err := stock.RouteWarehouse.Call(op, tc.Request)
			if tc.Error != "" {
				// The only implementation failed under Fallback: no answer,
				// and the trace keeps the reason.
				if err == nil || !strings.Contains(op.Trace()[0].Err.Error(), tc.Error) {
					t.Fatalf("got %v, %v; want an error mentioning %q", got, err, tc.Error)
				}
				return
			}
			if err != nil || got.Location != tc.Want {
				t.Fatalf("route = %q, %v; want %q", got.Location, err, tc.Want)
			}
		})
	}
}
