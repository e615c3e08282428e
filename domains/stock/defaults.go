package stock

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// NearestByPriority is the platform default of stock.route_warehouse: among
// the locations that cover the shipping region (a location without regions
// covers every region) and have every line's quantity sellable, the one with
// the highest priority; ties go to the smaller location name. No such
// location is an error naming the region.
var NearestByPriority = RouteWarehouse.Impl("stock.priority-coverage", func(_ context.Context, req extensions.RouteRequest) (extensions.Route, error) {
	var fit []extensions.LocationStock
	for _, loc := range req.Locations {
		if covers(loc, req.Region) && hasAll(loc, req.Lines) {
			fit = append(fit, loc)
		}
	}
	if len(fit) == 0 {
		return extensions.Route{}, fmt.Errorf("no location covers region %q with every line in stock", req.Region)
	}
	best := slices.MinFunc(fit, func(a, b extensions.LocationStock) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), strings.Compare(a.Location, b.Location))
	})
	return extensions.Route{Location: best.Location}, nil
}).WithVersion("1").WithDoc("Highest-priority location that covers the region and has every line in stock.")

func covers(loc extensions.LocationStock, region string) bool {
	return len(loc.Regions) == 0 || slices.Contains(loc.Regions, region)
}

func hasAll(loc extensions.LocationStock, lines []extensions.Line) bool {
	need := map[string]int64{}
	for _, l := range lines {
		need[l.SKU] += l.Quantity
	}
	for sku, q := range need {
		if loc.Sellable[sku] < q {
			return false
		}
	}
	return true
}

// Defaults are the domain's platform defaults.
func Defaults() []kernel.Implementation { return []kernel.Implementation{NearestByPriority} }
