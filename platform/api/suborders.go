package api

import (
	"net/url"
	"strconv"

	"github.com/tmf-platform/tmf/platform/order"
)

// familyFilters reads the list filters on parents and sub-orders:
// parentId=<id> lists a parent's sub-orders; topLevel=true leaves
// sub-orders out (orders that did not split, and parents with their
// sub-orders nested).
func familyFilters(qp url.Values, q *order.Query) error {
	if qp.Has("parentId") {
		q.ParentID = qp.Get("parentId")
		if q.ParentID == "" || len(q.ParentID) > 40 {
			return invalidField("parentId", "parentId must name an order")
		}
	}
	if qp.Has("topLevel") {
		b, err := strconv.ParseBool(qp.Get("topLevel"))
		if err != nil {
			return invalidField("topLevel", "topLevel must be true or false")
		}
		q.TopLevel = b
	}
	if q.ParentID != "" && q.TopLevel {
		return invalidField("topLevel", "sub-orders of a parent are not top-level: give parentId or topLevel, not both")
	}
	return nil
}
