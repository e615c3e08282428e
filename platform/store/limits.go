package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// PurchaseCounter is what one buyer (or org, or order attribute value) has
// bought under one purchase limit in one scope and window: the row a placement increments with a conditional
// update (used + amount <= max), so that concurrent orders never pass the
// limit together on any of the three databases.
type PurchaseCounter struct {
	// LimitKey is "<identity>/<limit name>": the identity whose
	// configuration sets the limit.
	LimitKey string `gorm:"primaryKey;size:200;autoIncrement:false"`
	// BuyerID is whose purchases the counter holds: the buyer id, or for a
	// limit per org or order attribute a key the order service makes that
	// no buyer id can be ("org=<node>", "attr:<name>=<value>").
	BuyerID string `gorm:"primaryKey;size:128;autoIncrement:false"`
	// ScopeKey is "sku:<sku>", "category:<category>" or "identity".
	ScopeKey string `gorm:"primaryKey;size:80;autoIncrement:false"`
	// Window is "day:2026-12-06", "period:<from, unix seconds>" or "lifetime".
	Window    string    `gorm:"column:window_key;primaryKey;size:32;autoIncrement:false"`
	Used      int64     `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

// TableName implements gorm's schema.Tabler.
func (PurchaseCounter) TableName() string { return "tmf_purchase_counters" }

// PurchaseUsage is what one order counted on one counter: the record that
// gives it back exactly once (Released) when the order ends unshipped.
type PurchaseUsage struct {
	OrderID   string    `gorm:"primaryKey;size:40;autoIncrement:false"`
	LimitKey  string    `gorm:"primaryKey;size:200;autoIncrement:false"`
	ScopeKey  string    `gorm:"primaryKey;size:80;autoIncrement:false"`
	Window    string    `gorm:"column:window_key;primaryKey;size:32;autoIncrement:false"`
	BuyerID   string    `gorm:"size:128;not null"`
	Amount    int64     `gorm:"not null"`
	Released  bool      `gorm:"not null;default:false"`
	CreatedAt time.Time `gorm:"not null"`
}

// TableName implements gorm's schema.Tabler.
func (PurchaseUsage) TableName() string { return "tmf_purchase_usages" }

// PurchaseClaim is one counter an order increments: Amount (units or minor
// units) against Max.
type PurchaseClaim struct {
	LimitKey string
	// BuyerID is the counter's holder (see PurchaseCounter.BuyerID).
	BuyerID  string
	ScopeKey string
	Window   string
	Amount   int64
	Max      int64
	// Per is the limit's per (buyer, org, attr:<name>), for messages; it is
	// not stored.
	Per string
	// Shares, when set, are how Amount is recorded over the orders that
	// give it back: a parent's claim is counted whole and recorded on its
	// sub-orders, each its own lines' part, so that a sub-order that ends
	// unshipped releases exactly that. They must sum to Amount; empty
	// records Amount on the claiming order.
	Shares []PurchaseShare
}

// PurchaseShare is one order's part of a claim.
type PurchaseShare struct {
	OrderID string
	Amount  int64
}

// PurchaseLimitError is a claim that would take its counter past Max: the
// buyer has Used already and the order asks for Requested more.
type PurchaseLimitError struct {
	Claim     PurchaseClaim
	Used      int64
	Requested int64
}

func (e *PurchaseLimitError) Error() string {
	return fmt.Sprintf("purchase limit %s (%s, %s): %s has %d of %d, the order adds %d",
		e.Claim.LimitKey, e.Claim.ScopeKey, e.Claim.Window, e.Claim.BuyerID, e.Used, e.Claim.Max, e.Requested)
}

// ClaimPurchases counts an order's claims in tx, the order's transaction:
// each counter is incremented only if used + amount <= max (a conditional
// UPDATE, created at 0 first if missing), in a fixed order so that two
// orders never lock the same counters in opposite orders, and a usage row
// per claim (per share of a claim with Shares) records what the order
// took. The first claim that does not fit is a *PurchaseLimitError and the
// caller's transaction must roll back.
// It is a Step: safe to run again after a deadlock.
func ClaimPurchases(ctx context.Context, tx *gorm.DB, orderID string, claims []PurchaseClaim, now time.Time) error {
	claims = slices.Clone(claims)
	slices.SortFunc(claims, func(a, b PurchaseClaim) int {
		return cmp.Or(cmp.Compare(a.LimitKey, b.LimitKey), cmp.Compare(a.ScopeKey, b.ScopeKey), cmp.Compare(a.Window, b.Window))
	})
	now = stamp(now)
	var usages []PurchaseUsage
	for _, c := range claims {
		if c.Amount <= 0 {
			continue
		}
		if c.Amount > c.Max {
			return &PurchaseLimitError{Claim: c, Used: 0, Requested: c.Amount}
		}
		inc := func() (bool, error) {
			res := tx.Exec("UPDATE tmf_purchase_counters SET used = used + ?, updated_at = ? "+
				"WHERE limit_key = ? AND buyer_id = ? AND scope_key = ? AND window_key = ? AND used <= ?",
				c.Amount, now, c.LimitKey, c.BuyerID, c.ScopeKey, c.Window, c.Max-c.Amount)
			return res.RowsAffected == 1, res.Error
		}
		ok, err := inc()
		if err != nil {
			return fmt.Errorf("purchase limit %s: %w", c.LimitKey, err)
		}
		if !ok {
			var used []int64
			if err := tx.Raw("SELECT used FROM tmf_purchase_counters WHERE limit_key = ? AND buyer_id = ? AND scope_key = ? AND window_key = ?",
				c.LimitKey, c.BuyerID, c.ScopeKey, c.Window).Scan(&used).Error; err != nil {
				return fmt.Errorf("purchase limit %s: %w", c.LimitKey, err)
			}
			if len(used) > 0 {
				return &PurchaseLimitError{Claim: c, Used: used[0], Requested: c.Amount}
			}
			// First purchase in this window: create the counter at 0 (a
			// concurrent creator wins harmlessly) and count again.
			row := PurchaseCounter{LimitKey: c.LimitKey, BuyerID: c.BuyerID, ScopeKey: c.ScopeKey, Window: c.Window, UpdatedAt: now}
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
				return fmt.Errorf("purchase limit %s: create counter: %w", c.LimitKey, err)
			}
			if ok, err = inc(); err != nil {
				return fmt.Errorf("purchase limit %s: %w", c.LimitKey, err)
			}
			if !ok {
				var used int64
				tx.Raw("SELECT used FROM tmf_purchase_counters WHERE limit_key = ? AND buyer_id = ? AND scope_key = ? AND window_key = ?",
					c.LimitKey, c.BuyerID, c.ScopeKey, c.Window).Scan(&used)
				return &PurchaseLimitError{Claim: c, Used: used, Requested: c.Amount}
			}
		}
		shares := c.Shares
		if len(shares) == 0 {
			shares = []PurchaseShare{{OrderID: orderID, Amount: c.Amount}}
		}
		var sum int64
		for _, sh := range shares {
			sum += sh.Amount
			if sh.Amount > 0 {
				usages = append(usages, PurchaseUsage{OrderID: sh.OrderID, LimitKey: c.LimitKey, ScopeKey: c.ScopeKey, Window: c.Window,
					BuyerID: c.BuyerID, Amount: sh.Amount, CreatedAt: now})
			}
		}
		if sum != c.Amount {
			return fmt.Errorf("purchase limit %s: %w", c.LimitKey, invalid("shares of order %s sum to %d, the claim is %d", orderID, sum, c.Amount))
		}
	}
	if len(usages) > 0 {
		if err := tx.Create(&usages).Error; err != nil {
			return fmt.Errorf("purchase usages of order %s: %w", orderID, err)
		}
	}
	return nil
}

// ReleasePurchases gives back, in tx, what an order counted against its
// purchase limits: each usage not released yet is marked released and its
// amount taken off its counter, so an order gives its quantity back once
// however often it is asked. An order that counted nothing costs one read.
// It is a Step: safe to run again after a deadlock.
func ReleasePurchases(ctx context.Context, tx *gorm.DB, orderID string, now time.Time) error {
	var usages []PurchaseUsage
	if err := tx.Where("order_id = ? AND released = ?", orderID, false).Find(&usages).Error; err != nil {
		return fmt.Errorf("purchase usages of order %s: %w", orderID, err)
	}
	slices.SortFunc(usages, func(a, b PurchaseUsage) int {
		return cmp.Or(cmp.Compare(a.LimitKey, b.LimitKey), cmp.Compare(a.ScopeKey, b.ScopeKey), cmp.Compare(a.Window, b.Window))
	})
	now = stamp(now)
	for _, u := range usages {
		res := tx.Exec("UPDATE tmf_purchase_usages SET released = ? WHERE order_id = ? AND limit_key = ? AND scope_key = ? AND window_key = ? AND released = ?",
			true, orderID, u.LimitKey, u.ScopeKey, u.Window, false)
		if res.Error != nil {
			return fmt.Errorf("release purchase usage of order %s: %w", orderID, res.Error)
		}
		if res.RowsAffected == 0 {
			continue
		}
		if err := tx.Exec("UPDATE tmf_purchase_counters SET used = used - ?, updated_at = ? "+
			"WHERE limit_key = ? AND buyer_id = ? AND scope_key = ? AND window_key = ? AND used >= ?",
			u.Amount, now, u.LimitKey, u.BuyerID, u.ScopeKey, u.Window, u.Amount).Error; err != nil {
			return fmt.Errorf("release purchase counter %s: %w", u.LimitKey, err)
		}
	}
	return nil
}

// PurchaseUsed is what a buyer has used of one counter (0 when it has
// none): for tests and the admin view of a buyer.
func (s *Store) PurchaseUsed(ctx context.Context, limitKey, buyerID, scopeKey, window string) (int64, error) {
	var used []int64
	if err := s.db.WithContext(ctx).Raw("SELECT used FROM tmf_purchase_counters WHERE limit_key = ? AND buyer_id = ? AND scope_key = ? AND window_key = ?",
		limitKey, buyerID, scopeKey, window).Scan(&used).Error; err != nil {
		return 0, fmt.Errorf("store: purchase counter %s: %w", limitKey, err)
	}
	if len(used) == 0 {
		return 0, nil
	}
	return used[0], nil
}
