package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
)

// CheckSubOrders compares parents with their sub-orders.
const CheckSubOrders = "suborders"

// Issues of the sub-order check.
const (
	IssueSubOrderCount  = "suborder_count"  // the parent counts another number of sub-orders than it has
	IssueSubOrderTotals = "suborder_totals" // the sub-orders' amounts do not sum to the parent's
	IssueSubOrderRefund = "suborder_refund" // a sub-order's refunds from the parent's charge are not its share
	IssueSubOrderPaid   = "suborder_paid"   // the parent's charge is not its total while a sub-order is paid
)

// checkSubOrders checks every parent in the scope (a sub-order in scope
// brings its parent): its count of sub-orders; its subtotal, discount,
// freight and total against the sums of its sub-orders'; its card charge,
// once a sub-order is paid, against its total; and the refunds of each
// paid sub-order from the parent's charge (their keys start with the
// sub-order's id) against its share: all of it once it ended unshipped,
// what its returns refunded otherwise; together never more than the
// parent's balance says was refunded.
func checkSubOrders(ctx context.Context, db *gorm.DB, sc scope) ([]Finding, error) {
	db = db.WithContext(ctx)
	var out []Finding
	seen := map[string]bool{}
	err := forOrders(db, sc, func(orders []store.Order) error {
		// A full run meets every parent itself; a run over changed orders
		// checks the parents of the changed sub-orders too, once.
		q := db.Select("id", "parent_id", "sub_orders").Where("id IN ? AND sub_orders > 0", ids(orders))
		if !sc.full {
			q = db.Select("id", "parent_id", "sub_orders").Where("id IN ? AND (sub_orders > 0 OR parent_id <> '')", ids(orders))
		}
		var rows []store.Order
		if err := q.Find(&rows).Error; err != nil {
			return err
		}
		var parents []string
		for _, r := range rows {
			if id := cmpOr(r.ParentID, r.ID); !seen[id] {
				seen[id] = true
				parents = append(parents, id)
			}
		}
		if len(parents) == 0 {
			return nil
		}
		found, err := checkParents(db, parents)
		out = append(out, found...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sub-order check: %w", err)
	}
	return out, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func checkParents(db *gorm.DB, ids []string) ([]Finding, error) {
	slices.Sort(ids)
	var parents []store.Order
	if err := db.Where("id IN ?", ids).Order("id").Find(&parents).Error; err != nil {
		return nil, err
	}
	var kids []store.Order
	if err := db.Where("parent_id IN ?", ids).Order("id").Find(&kids).Error; err != nil {
		return nil, err
	}
	kidIDs := make([]string, len(kids))
	byParent := map[string][]store.Order{}
	for i, k := range kids {
		kidIDs[i] = k.ID
		byParent[k.ParentID] = append(byParent[k.ParentID], k)
	}
	var paidRows []string
	if len(kidIDs) > 0 {
		if err := db.Model(&store.OrderHistory{}).Where("order_id IN ? AND event = ?", kidIDs, "pay").Distinct().
			Pluck("order_id", &paidRows).Error; err != nil {
			return nil, err
		}
	}
	var balances []payment.Balance
	if err := db.Where("order_id IN ?", ids).Find(&balances).Error; err != nil {
		return nil, err
	}
	bal := map[string]payment.Balance{}
	for _, b := range balances {
		bal[b.OrderID] = b
	}
	var refunds []payment.Payment
	if err := db.Where("order_id IN ? AND kind = ? AND state <> ?", ids, payment.KindRefund, payment.StateFailed).Find(&refunds).Error; err != nil {
		return nil, err
	}
	var returned []struct {
		OrderID string
		Refund  int64
	}
	if len(kidIDs) > 0 {
		if err := db.Model(&store.OrderReturn{}).Select("order_id, SUM(refund) AS refund").Where("order_id IN ?", kidIDs).
			Group("order_id").Scan(&returned).Error; err != nil {
			return nil, err
		}
	}
	ret := map[string]int64{}
	for _, r := range returned {
		ret[r.OrderID] = r.Refund
	}

	var out []Finding
	for _, p := range parents {
		ks := byParent[p.ID]
		finding := func(issue, detail string, evidence map[string]any) {
			evidence["parentId"] = p.ID
			out = append(out, Finding{Check: CheckSubOrders, Issue: issue, Subject: "order:" + p.ID, OrderID: p.ID, Detail: detail, Evidence: evidence})
		}
		if p.SubOrders != len(ks) {
			finding(IssueSubOrderCount, fmt.Sprintf("parent %s counts %d sub-orders and has %d", p.ID, p.SubOrders, len(ks)),
				map[string]any{"counted": p.SubOrders, "found": len(ks)})
		}
		var sub, disc, fr, tot int64
		for _, k := range ks {
			sub, disc, fr, tot = sub+k.Subtotal, disc+k.Discount, fr+k.Freight, tot+k.Total
		}
		if sub != p.Subtotal || disc != p.Discount || fr != p.Freight || tot != p.Total {
			finding(IssueSubOrderTotals, fmt.Sprintf("sub-orders sum to subtotal %d, discount %d, freight %d, total %d; parent %s has %d, %d, %d, %d",
				sub, disc, fr, tot, p.ID, p.Subtotal, p.Discount, p.Freight, p.Total),
				map[string]any{"sum": map[string]int64{"subtotal": sub, "discount": disc, "freight": fr, "total": tot},
					"parent": map[string]int64{"subtotal": p.Subtotal, "discount": p.Discount, "freight": p.Freight, "total": p.Total}})
		}
		if p.PaymentMethod != payment.MethodCard {
			continue
		}
		b := bal[p.ID]
		anyPaid := false
		var refundedByKids int64
		for _, k := range ks {
			var got int64
			for _, r := range refunds {
				if r.OrderID == p.ID && strings.HasPrefix(r.IdemKey, k.ID+"/") {
					got += r.Amount
				}
			}
			refundedByKids += got
			if !slices.Contains(paidRows, k.ID) {
				if got != 0 {
					finding(IssueSubOrderRefund, fmt.Sprintf("sub-order %s was never paid and %d was refunded for it", k.ID, got),
						map[string]any{"subOrderId": k.ID, "refunded": got, "want": 0})
				}
				continue
			}
			anyPaid = true
			want := ret[k.ID]
			if order.StockBucket(k.Status) == "sellable" {
				want = k.Total
			}
			if got != want {
				finding(IssueSubOrderRefund, fmt.Sprintf("sub-order %s (%s, total %d) was refunded %d from the parent's charge; its share is %d",
					k.ID, k.Status, k.Total, got, want), map[string]any{"subOrderId": k.ID, "status": k.Status, "refunded": got, "want": want})
			}
		}
		if refundedByKids > b.Refunded {
			finding(IssueSubOrderRefund, fmt.Sprintf("sub-orders of %s were refunded %d together, the parent's balance %d", p.ID, refundedByKids, b.Refunded),
				map[string]any{"refunded": refundedByKids, "balance": b.Refunded})
		}
		if anyPaid && b.Captured < p.Total {
			finding(IssueSubOrderPaid, fmt.Sprintf("a sub-order of %s is paid but the parent's charge captured %d of its total %d", p.ID, b.Captured, p.Total),
				map[string]any{"captured": b.Captured, "total": p.Total})
		}
	}
	return out, nil
}
