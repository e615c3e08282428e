package order

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/platform/store"
)

// Money audit issues, as MoneyProblem.Issue names them.
const (
	// IssueOwed: captured − refunded is not what the order owes.
	IssueOwed = "owed_mismatch"
	// IssueUnresolved: a payment attempt is pending and nobody works on it
	// (its lease ran out); payment recovery has not settled it yet.
	IssueUnresolved = "unresolved_attempt"
	// IssueDoubleCapture: more than one capture of the order is kept (not
	// refunded).
	IssueDoubleCapture = "double_capture"
	// IssueFailedRefund: the processor refused a refund for good and no
	// retry replaced it; an operator must act.
	IssueFailedRefund = "failed_refund"
)

// MoneyProblem is one finding of the money audit.
type MoneyProblem struct {
	OrderID string `json:"orderId"`
	Status  string `json:"status"`
	Issue   string `json:"issue"`
	// Owed is what the order owes: its total while paid, less what its
	// returns refunded; 0 before payment and once it ended unpaid or
	// cancelled. Captured and Refunded are its balance (refunds owed and
	// in flight count as refunded).
	Owed      int64  `json:"owed"`
	Captured  int64  `json:"captured"`
	Refunded  int64  `json:"refunded"`
	Currency  string `json:"currency"`
	PaymentID string `json:"paymentId,omitempty"`
	Detail    string `json:"detail"`
}

// MoneyAudit is the result of AuditMoney.
type MoneyAudit struct {
	// Orders counts the orders checked: those paid through the platform
	// (card, agent credit).
	Orders int `json:"orders"`
	// Unchecked counts orders in states the platform cannot tell paid or
	// unpaid (custom lifecycle states); only their other issues are
	// checked.
	Unchecked int            `json:"unchecked"`
	Problems  []MoneyProblem `json:"problems"`
}

// auditPage is how many orders the money audit reads at a time.
const auditPage = 500

// AuditMoney checks the money invariant of every order paid through the
// platform: captured − refunded equals what the order owes (its total
// while paid and not cancelled or returned, less the returned share after
// returns; 0 before payment and once cancelled or failed); at most one
// capture is kept per order; no payment attempt is left pending with
// nobody working on it; no refund failed for good without a retry. It
// reads the ledger in pages and changes nothing.
//
// db is best a read-only snapshot transaction, for a consistent view;
// attempts whose lease runs out before at count as unresolved.
func AuditMoney(ctx context.Context, db *gorm.DB, at time.Time) (MoneyAudit, error) {
	return auditMoney(ctx, db, at, nil)
}

// AuditMoneyOf is AuditMoney of the named orders only.
func AuditMoneyOf(ctx context.Context, db *gorm.DB, at time.Time, ids ...string) (MoneyAudit, error) {
	if len(ids) == 0 {
		return MoneyAudit{Problems: []MoneyProblem{}}, nil
	}
	return auditMoney(ctx, db, at, ids)
}

func auditMoney(ctx context.Context, db *gorm.DB, at time.Time, only []string) (MoneyAudit, error) {
	db = db.WithContext(ctx)
	if only != nil {
		// A sub-order's money is its parent's: audit the parent.
		var err error
		if only, err = moneyOwners(db, only); err != nil {
			return MoneyAudit{}, fmt.Errorf("money audit: %w", err)
		}
	}
	out := MoneyAudit{Problems: []MoneyProblem{}}
	now := at.UnixMicro()
	after := ""
	for {
		var orders []store.Order
		q := db.Select("id", "status", "total", "currency", "payment_method", "sub_orders").
			Where("id > ? AND payment_method IN ? AND parent_id = ''", after, []string{payment.MethodCard, payment.MethodAgentCredit})
		if only != nil {
			q = q.Where("id IN ?", only)
		}
		if err := q.Order("id").Limit(auditPage).Find(&orders).Error; err != nil {
			return MoneyAudit{}, fmt.Errorf("money audit: orders: %w", err)
		}
		if len(orders) == 0 {
			return out, nil
		}
		after = orders[len(orders)-1].ID
		ids := make([]string, len(orders))
		for i, o := range orders {
			ids[i] = o.ID
		}
		var balances []payment.Balance
		if err := db.Where("order_id IN ?", ids).Find(&balances).Error; err != nil {
			return MoneyAudit{}, fmt.Errorf("money audit: balances: %w", err)
		}
		var pays []payment.Payment
		if err := db.Where("order_id IN ?", ids).Order("id").Find(&pays).Error; err != nil {
			return MoneyAudit{}, fmt.Errorf("money audit: payments: %w", err)
		}
		kids, err := subOrdersOf(db, orders)
		if err != nil {
			return MoneyAudit{}, fmt.Errorf("money audit: sub-orders: %w", err)
		}
		returnsOf := slices.Clone(ids)
		for _, ks := range kids {
			for _, k := range ks {
				returnsOf = append(returnsOf, k.ID)
			}
		}
		var returned []struct {
			OrderID string
			Refund  int64
		}
		if err := db.Model(&store.OrderReturn{}).Select("order_id, SUM(refund) AS refund").Where("order_id IN ?", returnsOf).
			Group("order_id").Scan(&returned).Error; err != nil {
			return MoneyAudit{}, fmt.Errorf("money audit: returns: %w", err)
		}
		bal := map[string]payment.Balance{}
		for _, b := range balances {
			bal[b.OrderID] = b
		}
		ret := map[string]int64{}
		for _, r := range returned {
			ret[r.OrderID] = r.Refund
		}
		byOrder := map[string][]payment.Payment{}
		for _, p := range pays {
			byOrder[p.OrderID] = append(byOrder[p.OrderID], p)
		}
		for _, o := range orders {
			out.Orders++
			problems, checked := auditOrder(o, kids[o.ID], bal[o.ID], ret, byOrder[o.ID], now)
			if !checked {
				out.Unchecked++
			}
			out.Problems = append(out.Problems, problems...)
		}
	}
}

// auditOrder checks one order; checked is false when its state does not
// say whether it is paid.
func auditOrder(o store.Order, kids []store.Order, b payment.Balance, returned map[string]int64, pays []payment.Payment, now int64) ([]MoneyProblem, bool) {
	var out []MoneyProblem
	problem := func(issue, paymentID, detail string, owed int64) {
		out = append(out, MoneyProblem{OrderID: o.ID, Status: o.Status, Issue: issue, Owed: owed, Captured: b.Captured,
			Refunded: b.Refunded, Currency: o.Currency, PaymentID: paymentID, Detail: detail})
	}
	owed, checked := owedBy(o, returned)
	if o.SubOrders > 0 {
		// A parent owes what its sub-orders owe.
		owed, checked = 0, true
		for _, k := range kids {
			n, ok := owedBy(k, returned)
			owed, checked = owed+n, checked && ok
		}
	}
	if checked && b.Captured-b.Refunded != owed {
		problem(IssueOwed, "", fmt.Sprintf("captured %d − refunded %d = %d, but the order owes %d", b.Captured, b.Refunded,
			b.Captured-b.Refunded, owed), owed)
	}
	refundedOf := map[string]int64{}
	for _, p := range pays {
		if p.Kind == payment.KindRefund && p.State != payment.StateFailed {
			charge := p.ChargeID
			if charge == "" { // refunds recorded before refunds named their charge
				charge = b.ChargeID
			}
			refundedOf[charge] += p.Amount
		}
	}
	kept := 0
	for _, p := range pays {
		switch {
		case p.State == payment.StatePending && p.LeaseUntil <= now:
			problem(IssueUnresolved, p.ID, fmt.Sprintf("%s %s of %d is pending and nobody works on it (%d attempts; last: %s)",
				p.Method, p.Kind, p.Amount, p.Attempts, p.FailureCode), owed)
		case p.Kind == payment.KindRefund && p.State == payment.StateFailed && p.RetriedBy == "" && p.Method == payment.MethodCard:
			problem(IssueFailedRefund, p.ID, fmt.Sprintf("the processor refused the refund of %d: %s", p.Amount, p.FailureCode), owed)
		case p.Kind == payment.KindCharge && p.State == payment.StateSucceeded && p.Amount > refundedOf[p.ID]:
			kept++
		}
	}
	if kept > 1 {
		problem(IssueDoubleCapture, "", fmt.Sprintf("%d captures of the order are kept", kept), owed)
	}
	return out, checked
}

// owedBy is what an order owes by its state: its total less what returns
// refunded while paid, 0 before payment and once it ended unshipped; ok
// false for states the platform cannot tell paid or unpaid.
func owedBy(o store.Order, returned map[string]int64) (int64, bool) {
	switch stockBucket(o.Status) {
	case "frozen", "shipped":
		return o.Total - returned[o.ID], true
	case "reserved", "sellable":
		return 0, true
	}
	return 0, false
}

// subOrdersOf reads the sub-orders (id, status, total) of the parents
// among orders.
func subOrdersOf(db *gorm.DB, orders []store.Order) (map[string][]store.Order, error) {
	var parents []string
	for _, o := range orders {
		if o.SubOrders > 0 {
			parents = append(parents, o.ID)
		}
	}
	out := map[string][]store.Order{}
	if len(parents) == 0 {
		return out, nil
	}
	var kids []store.Order
	if err := db.Select("id", "parent_id", "status", "total").Where("parent_id IN ?", parents).Order("id").Find(&kids).Error; err != nil {
		return nil, err
	}
	for _, k := range kids {
		out[k.ParentID] = append(out[k.ParentID], k)
	}
	return out, nil
}

// moneyOwners maps order ids to the orders that hold their money: a
// sub-order to its parent, others to themselves.
func moneyOwners(db *gorm.DB, ids []string) ([]string, error) {
	var rows []store.Order
	if err := db.Select("id", "parent_id").Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		if id := moneyOwner(r); !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}
