// Command orderlimit is bizpacks/node-order-limit's rule written in Go: the
// benchmark (BenchmarkOrderLimitGoVersusNode) runs both through the host.
package main

import (
	"context"
	"fmt"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/plugin"
)

const maxItems = 5

func main() {
	b := extensions.New(extensions.Manifest{Name: "go-order-limit", Version: "1.0.0",
		Points: []extensions.PointTypes{{Point: extensions.OrderValidate}}})
	extensions.Implement(b, extensions.OrderValidate, func(_ context.Context, r extensions.ValidateRequest) (extensions.Verdict, error) {
		var items int64
		for _, l := range r.Lines {
			items += l.Quantity
		}
		if items > maxItems {
			return extensions.Deny("too_many_items", fmt.Sprintf("an order holds at most %d items, this one %d", maxItems, items)), nil
		}
		return extensions.Allow(), nil
	})
	plugin.Serve(b)
}
