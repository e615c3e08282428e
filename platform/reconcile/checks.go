package reconcile

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
)

// The checks, as Mismatch.Check names them.
const (
	CheckStock     = "stock"
	CheckMoney     = "money"
	CheckPromotion = "promotion"
	CheckOutbox    = "outbox"
)

// Checks lists every check, in the order a run performs them.
var Checks = []string{CheckStock, CheckMoney, CheckPromotion, CheckOutbox, CheckSubOrders}

// Issues of the checks (money issues are order.Issue*; the stock counter
// issues are "<table>.<field>" of a stock.Discrepancy).
const (
	IssueOrderHoldsStock   = "order_holds_stock"   // the ledger leaves stock reserved or frozen that the order's state does not hold
	IssueOrderStockMissing = "order_stock_missing" // the order's state holds stock the ledger does not reserve or freeze for it
	IssueCouponState       = "coupon_state"        // a coupon's state or order disagrees with the coupon ledger
	IssueReleasedButLive   = "released_but_live"   // a coupon or budget was given back while the order still stands
	IssueHeldByCancelled   = "held_by_cancelled"   // an order cancelled before payment still holds a coupon or budget
	IssueBudgetTotal       = "budget_total"        // a budget's buckets do not sum to its ledger, or one is negative
	IssueEventMissing      = "event_missing"       // an order transition has no outbox event of its version
)

// Finding is one mismatch a check reports, before it is stored.
type Finding struct {
	Check    string
	Issue    string
	Subject  string
	OrderID  string
	Detail   string
	Evidence any
}

// scope is what a run checks one by one: every order (full) or the named
// ones.
type scope struct {
	full   bool
	orders []string
	at     time.Time
	// outboxKept: see Options.OutboxRetention.
	outboxKept time.Duration
	// stock is the stock database when stock lives in its own (see
	// Options.Stock); nil: the orders' database.
	stock *gorm.DB
}

// page is how many orders or rows a check reads at a time.
const page = 500

// forOrders calls fn with the scope's orders in pages: every order by id
// for a full scope, the named ones otherwise.
func forOrders(db *gorm.DB, sc scope, fn func(orders []store.Order) error) error {
	if !sc.full {
		for chunk := range slices.Chunk(sc.orders, page) {
			var orders []store.Order
			if err := db.Select("id", "status", "updated_at").Where("id IN ?", chunk).Order("id").Find(&orders).Error; err != nil {
				return err
			}
			if err := fn(orders); err != nil {
				return err
			}
		}
		return nil
	}
	after := ""
	for {
		var orders []store.Order
		if err := db.Select("id", "status", "updated_at").Where("id > ?", after).Order("id").Limit(page).Find(&orders).Error; err != nil {
			return err
		}
		if len(orders) == 0 {
			return nil
		}
		after = orders[len(orders)-1].ID
		if err := fn(orders); err != nil {
			return err
		}
	}
}

func ids(orders []store.Order) []string {
	out := make([]string, len(orders))
	for i, o := range orders {
		out[i] = o.ID
	}
	return out
}

// checkStock compares the stock counters with the stock ledger (every
// slot, shared cap and shipment: stock.Audit, whatever the scope) and the
// ledger with the states of the scope's orders: an order placed and
// unpaid holds all it reserved as reserved, a paid one holds it as frozen
// (all of it confirmed, none still reserved), a shipped, cancelled or
// failed one holds nothing reserved or frozen. Orders in states the
// platform does not know, and orders without stock moves (virtual goods),
// are left out.
//
// With stock in its own database (Options.Stock) the counters and the
// ledger are read there, and orders whose stock intents are not all
// applied yet (tmf_stock_intents) are left out: they are on their way.
func checkStock(ctx context.Context, db *gorm.DB, sc scope) ([]Finding, error) {
	sdb := db
	if sc.stock != nil {
		sdb = sc.stock
	}
	found, err := stock.Audit(ctx, sdb)
	if err != nil {
		return nil, err
	}
	var out []Finding
	for _, d := range found {
		subject := fmt.Sprintf("slot:%s@%s/%s", d.SKU, d.Location, d.Slot)
		switch d.Table {
		case "channel":
			subject = fmt.Sprintf("channel:%s@%s/%s", d.SKU, d.Location, d.Channel)
		case "shipment":
			subject = fmt.Sprintf("shipment:%s/%d/%d", d.OrderID, d.LineNo, d.Part)
		}
		out = append(out, Finding{Check: CheckStock, Issue: d.Table + "." + d.Field, Subject: subject, OrderID: d.OrderID,
			Detail: d.String(), Evidence: d})
	}
	err = forOrders(db, sc, func(orders []store.Order) error {
		var sums []struct {
			OrderID string
			Kind    string
			Total   int64
		}
		if err := sdb.Raw("SELECT order_id, kind, SUM(quantity) AS total FROM tmf_stock_ledger WHERE order_id IN ? GROUP BY order_id, kind",
			ids(orders)).Scan(&sums).Error; err != nil {
			return fmt.Errorf("sum the ledger by order: %w", err)
		}
		onTheWay := map[string]bool{}
		if sc.stock != nil {
			var pending []string
			if err := db.Raw("SELECT DISTINCT order_id FROM tmf_stock_intents WHERE applied_at = 0 AND order_id IN ?", ids(orders)).
				Scan(&pending).Error; err != nil {
				return fmt.Errorf("pending stock intents: %w", err)
			}
			for _, id := range pending {
				onTheWay[id] = true
			}
		}
		byOrder := map[string]map[string]int64{}
		for _, s := range sums {
			if byOrder[s.OrderID] == nil {
				byOrder[s.OrderID] = map[string]int64{}
			}
			byOrder[s.OrderID][s.Kind] += s.Total
		}
		for _, o := range orders {
			m := byOrder[o.ID]
			bucket := order.StockBucket(o.Status)
			if m == nil || bucket == "" || onTheWay[o.ID] {
				continue
			}
			reserved := m[stock.KindReserve] - m[stock.KindConfirm] - m[stock.KindRelease]
			frozen := m[stock.KindConfirm] - m[stock.KindShip] - m[stock.KindUnfreeze]
			var wantReserved, wantFrozen int64
			switch bucket {
			case "reserved":
				wantReserved = m[stock.KindReserve]
			case "frozen":
				wantFrozen = m[stock.KindReserve]
			}
			if reserved == wantReserved && frozen == wantFrozen {
				continue
			}
			issue := IssueOrderHoldsStock
			if reserved < wantReserved || frozen < wantFrozen {
				issue = IssueOrderStockMissing
			}
			out = append(out, Finding{Check: CheckStock, Issue: issue, Subject: "order:" + o.ID, OrderID: o.ID,
				Detail: fmt.Sprintf("order in %s (stock %s) should hold reserved %d, frozen %d; the ledger holds reserved %d, frozen %d",
					o.Status, bucket, wantReserved, wantFrozen, reserved, frozen),
				Evidence: map[string]any{"orderId": o.ID, "status": o.Status, "bucket": bucket, "ledger": m,
					"reserved": reserved, "frozen": frozen, "wantReserved": wantReserved, "wantFrozen": wantFrozen}})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stock check: %w", err)
	}
	return out, nil
}

// checkMoney is the money audit (order.AuditMoney) of the scope's orders:
// captured − refunded against what each owes by its state and total, one
// kept capture, no attempt left pending, no refund failed for good.
func checkMoney(ctx context.Context, db *gorm.DB, sc scope) ([]Finding, error) {
	var audit order.MoneyAudit
	var err error
	if sc.full {
		audit, err = order.AuditMoney(ctx, db, sc.at)
	} else {
		audit, err = order.AuditMoneyOf(ctx, db, sc.at, sc.orders...)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Finding, 0, len(audit.Problems))
	for _, p := range audit.Problems {
		subject := "order:" + p.OrderID
		if p.PaymentID != "" {
			subject = "payment:" + p.PaymentID
		}
		out = append(out, Finding{Check: CheckMoney, Issue: p.Issue, Subject: subject, OrderID: p.OrderID, Detail: p.Detail, Evidence: p})
	}
	return out, nil
}

// checkPromotions compares coupons and budgets with their ledgers and
// with the orders that used them:
//   - every budget: the sum of its ledger moves equals the sum of its
//     buckets' remaining, and no bucket is negative (always, whatever the
//     scope: one grouped query);
//   - every coupon used by a scope order: "used" by exactly the order
//     whose use has no release, "available" when every use was released;
//   - every coupon use and budget consumption of a scope order: released
//     only if the order was cancelled (or failed) before payment, and
//     released if it was. (Moves naming an order that does not exist are
//     not looked for: the check reads moves by order.)
//
// What the data cannot support is left out: the share of an order's
// discount each promotion paid is not stored per order, so the amount a
// consumption took is not compared with the order's discount.
func checkPromotions(ctx context.Context, db *gorm.DB, sc scope) ([]Finding, error) {
	var out []Finding
	var ledger []struct {
		PromotionID string
		Total       int64
	}
	if err := db.Model(&promotion.BudgetMove{}).Select("promotion_id, SUM(amount) AS total").Group("promotion_id").
		Scan(&ledger).Error; err != nil {
		return nil, fmt.Errorf("promotion check: budget ledger: %w", err)
	}
	var buckets []promotion.BudgetBucket
	if err := db.Order("promotion_id").Order("bucket").Find(&buckets).Error; err != nil {
		return nil, fmt.Errorf("promotion check: budgets: %w", err)
	}
	remaining, negative := map[string]int64{}, map[string][]int{}
	for _, b := range buckets {
		remaining[b.PromotionID] += b.Remaining
		if b.Remaining < 0 {
			negative[b.PromotionID] = append(negative[b.PromotionID], b.Bucket)
		}
	}
	moved := map[string]int64{}
	for _, l := range ledger {
		moved[l.PromotionID] = l.Total
	}
	promos := map[string]bool{}
	for id := range moved {
		promos[id] = true
	}
	for id := range remaining {
		promos[id] = true
	}
	for _, id := range sortedKeys(promos) {
		if moved[id] == remaining[id] && len(negative[id]) == 0 {
			continue
		}
		out = append(out, Finding{Check: CheckPromotion, Issue: IssueBudgetTotal, Subject: "promotion:" + id,
			Detail:   fmt.Sprintf("budget ledger sums to %d, buckets to %d; negative buckets %v", moved[id], remaining[id], negative[id]),
			Evidence: map[string]any{"promotionId": id, "ledger": moved[id], "buckets": remaining[id], "negativeBuckets": negative[id]}})
	}

	err := forOrders(db, sc, func(orders []store.Order) error {
		var couponMoves []promotion.CouponMove
		if err := db.Where("order_id IN ?", ids(orders)).Find(&couponMoves).Error; err != nil {
			return fmt.Errorf("coupon ledger: %w", err)
		}
		var budgetMoves []promotion.BudgetMove
		if err := db.Where("ref IN ? AND kind IN ?", ids(orders), []string{promotion.MoveConsume, promotion.MoveRelease}).
			Find(&budgetMoves).Error; err != nil {
			return fmt.Errorf("budget ledger: %w", err)
		}
		if len(couponMoves) == 0 && len(budgetMoves) == 0 {
			return nil
		}
		cancelledUnpaid, err := cancelledBeforePayment(db, orders)
		if err != nil {
			return err
		}
		status := map[string]string{}
		for _, o := range orders {
			status[o.ID] = o.Status
		}
		// What each order took and gave back, by coupon code or promotion.
		type took struct{ used, released bool }
		byCoupon := map[[2]string]*took{}
		codes := map[string]bool{}
		for _, m := range couponMoves {
			k := [2]string{m.OrderID, "coupon:" + m.Code}
			if byCoupon[k] == nil {
				byCoupon[k] = &took{}
			}
			byCoupon[k].used = byCoupon[k].used || m.Kind == promotion.MoveUse
			byCoupon[k].released = byCoupon[k].released || m.Kind == promotion.MoveRelease
			codes[m.Code] = true
		}
		for _, m := range budgetMoves {
			k := [2]string{m.Ref, "promotion:" + m.PromotionID}
			if byCoupon[k] == nil {
				byCoupon[k] = &took{}
			}
			byCoupon[k].used = byCoupon[k].used || m.Kind == promotion.MoveConsume
			byCoupon[k].released = byCoupon[k].released || m.Kind == promotion.MoveRelease
		}
		keys := make([][2]string, 0, len(byCoupon))
		for k := range byCoupon {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b [2]string) int {
			if a[0] != b[0] {
				return compare(a[0], b[0])
			}
			return compare(a[1], b[1])
		})
		for _, k := range keys {
			t, orderID, what := byCoupon[k], k[0], k[1]
			st := status[orderID]
			ev := map[string]any{"orderId": orderID, "what": what, "status": st, "used": t.used, "released": t.released,
				"cancelledBeforePayment": cancelledUnpaid[orderID]}
			switch {
			case t.released && !cancelledUnpaid[orderID]:
				out = append(out, Finding{Check: CheckPromotion, Issue: IssueReleasedButLive, Subject: what, OrderID: orderID,
					Detail:   fmt.Sprintf("%s was given back, but order %s is %s and was not cancelled before payment", what, orderID, st),
					Evidence: ev})
			case t.used && !t.released && cancelledUnpaid[orderID]:
				out = append(out, Finding{Check: CheckPromotion, Issue: IssueHeldByCancelled, Subject: what, OrderID: orderID,
					Detail: fmt.Sprintf("order %s was cancelled before payment (%s) but still holds %s", orderID, st, what), Evidence: ev})
			}
		}
		if len(codes) == 0 {
			return nil
		}
		// The coupons' rows against their whole ledger.
		var coupons []promotion.Coupon
		if err := db.Where("code IN ?", sortedKeys(codes)).Order("code").Find(&coupons).Error; err != nil {
			return fmt.Errorf("coupons: %w", err)
		}
		var all []promotion.CouponMove
		if err := db.Where("code IN ?", sortedKeys(codes)).Find(&all).Error; err != nil {
			return fmt.Errorf("coupon ledger: %w", err)
		}
		holders := map[string]map[string]int{}
		for _, m := range all {
			if holders[m.Code] == nil {
				holders[m.Code] = map[string]int{}
			}
			if m.Kind == promotion.MoveUse {
				holders[m.Code][m.OrderID]++
			} else if m.Kind == promotion.MoveRelease {
				holders[m.Code][m.OrderID]--
			}
		}
		for _, c := range coupons {
			var held []string
			for _, id := range sortedKeys(holders[c.Code]) {
				if holders[c.Code][id] > 0 {
					held = append(held, id)
				}
			}
			ok := (c.State == promotion.CouponAvailable && len(held) == 0) ||
				(c.State == promotion.CouponUsed && len(held) == 1 && held[0] == c.OrderID)
			if ok {
				continue
			}
			out = append(out, Finding{Check: CheckPromotion, Issue: IssueCouponState, Subject: "coupon:" + c.Code, OrderID: c.OrderID,
				Detail:   fmt.Sprintf("coupon %s is %s for order %q; its ledger says it is held by %v", c.Code, c.State, c.OrderID, held),
				Evidence: map[string]any{"code": c.Code, "state": c.State, "orderId": c.OrderID, "heldBy": held}})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("promotion check: %w", err)
	}
	return dedupe(out), nil
}

// cancelledBeforePayment tells which of orders ended unpaid: their state
// gives stock back ("sellable") and the step into it left an unpaid state.
func cancelledBeforePayment(db *gorm.DB, orders []store.Order) (map[string]bool, error) {
	var ended []string
	for _, o := range orders {
		if order.StockBucket(o.Status) == "sellable" {
			ended = append(ended, o.ID)
		}
	}
	out := map[string]bool{}
	if len(ended) == 0 {
		return out, nil
	}
	var hist []store.OrderHistory
	if err := db.Where("order_id IN ?", ended).Order("order_id").Order("version").Find(&hist).Error; err != nil {
		return nil, fmt.Errorf("order history: %w", err)
	}
	last := map[string]store.OrderHistory{}
	for _, h := range hist {
		last[h.OrderID] = h
	}
	for id, h := range last {
		out[id] = order.StockBucket(h.FromState) == "reserved"
	}
	return out, nil
}

// checkOutbox finds order transitions (tmf_order_history rows) without
// the outbox event of their version (tmf_outbox_events with the order as
// aggregate and the same version). Outbox rows carry the version since
// the feature that added it; a database holds older rows with version 0,
// so only history rows written at or after the first versioned event are
// checked. Delivered events are purged after the outbox retention: when
// it is set (scope.outboxKept), only history rows younger than it are
// checked, as older events may be gone by design.
func checkOutbox(ctx context.Context, db *gorm.DB, sc scope) ([]Finding, error) {
	_ = ctx
	// Not MIN(created_at): SQLite answers an aggregate of a time as text.
	var first []store.OutboxEvent
	if err := db.Select("created_at").Where("version > 0").Order("created_at").Limit(1).Find(&first).Error; err != nil {
		return nil, fmt.Errorf("outbox check: first versioned event: %w", err)
	}
	if len(first) == 0 {
		return nil, nil
	}
	cutoff := first[0].CreatedAt
	if sc.outboxKept > 0 {
		if kept := sc.at.Add(-sc.outboxKept); kept.After(cutoff) {
			cutoff = kept
		}
	}
	var out []Finding
	var errCheck error
	check := func(hist []store.OrderHistory) {
		if len(hist) == 0 || errCheck != nil {
			return
		}
		orderIDs := map[string]bool{}
		for _, h := range hist {
			orderIDs[h.OrderID] = true
		}
		var events []store.OutboxEvent
		if err := db.Select("id", "aggregate_id", "version", "topic").Where("aggregate_id IN ? AND version > 0", sortedKeys(orderIDs)).
			Find(&events).Error; err != nil {
			errCheck = fmt.Errorf("outbox check: events: %w", err)
			return
		}
		have := map[string]bool{}
		for _, e := range events {
			have[fmt.Sprintf("%s/%d", e.AggregateID, e.Version)] = true
		}
		for _, h := range hist {
			if have[fmt.Sprintf("%s/%d", h.OrderID, h.Version)] {
				continue
			}
			out = append(out, Finding{Check: CheckOutbox, Issue: IssueEventMissing, Subject: fmt.Sprintf("order:%s@%d", h.OrderID, h.Version),
				OrderID: h.OrderID,
				Detail:  fmt.Sprintf("order %s version %d (%s: %s → %s) has no outbox event", h.OrderID, h.Version, h.Event, h.FromState, h.ToState),
				Evidence: map[string]any{"orderId": h.OrderID, "version": h.Version, "event": h.Event, "from": h.FromState, "to": h.ToState,
					"historyId": h.ID, "at": h.CreatedAt}})
		}
	}
	if !sc.full {
		for chunk := range slices.Chunk(sc.orders, page) {
			var hist []store.OrderHistory
			if err := db.Where("order_id IN ? AND created_at >= ?", chunk, cutoff).Order("id").Find(&hist).Error; err != nil {
				return nil, fmt.Errorf("outbox check: history: %w", err)
			}
			check(hist)
		}
		return out, errCheck
	}
	var after int64
	for {
		var hist []store.OrderHistory
		if err := db.Where("id > ? AND created_at >= ?", after, cutoff).Order("id").Limit(page).Find(&hist).Error; err != nil {
			return nil, fmt.Errorf("outbox check: history: %w", err)
		}
		if len(hist) == 0 {
			return out, errCheck
		}
		after = hist[len(hist)-1].ID
		check(hist)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// dedupe drops repeated findings (same check, issue, subject and order).
func dedupe(in []Finding) []Finding {
	seen := map[[4]string]bool{}
	out := in[:0]
	for _, f := range in {
		k := [4]string{f.Check, f.Issue, f.Subject, f.OrderID}
		if !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	return out
}
