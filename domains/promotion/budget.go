package promotion

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/internal/dbutil"
)

// Budget is what a promotion's budget holds, for the admin API.
type Budget struct {
	PromotionID string `json:"promotionId"`
	Currency    string `json:"currency"`
	// Total is the money granted: the initial budget and every top-up. 0
	// means the promotion is unlimited.
	Total int64 `json:"total"`
	// Remaining is what is left, over every bucket.
	Remaining int64 `json:"remaining"`
	// Buckets is what is left in each bucket, by bucket number.
	Buckets []int64 `json:"buckets,omitempty"`
}

// GetBudget reads a promotion's budget (a *PromotionNotFoundError if there
// is no such promotion), on any handle. Outside a transaction the buckets
// are read in one statement, a view good enough for display.
func GetBudget(ctx context.Context, db *gorm.DB, promotionID string) (Budget, error) {
	p, err := GetPromotion(ctx, db, promotionID)
	if err != nil {
		return Budget{}, err
	}
	out := Budget{PromotionID: p.ID, Currency: p.Currency, Total: p.Budget}
	rows, err := readBuckets(db.WithContext(ctx), promotionID)
	if err != nil {
		return Budget{}, err
	}
	for _, r := range rows {
		out.Remaining += r.Remaining
		out.Buckets = append(out.Buckets, r.Remaining)
	}
	return out, nil
}

// BudgetMoves lists a promotion's budget ledger, oldest first, on any
// handle.
func BudgetMoves(ctx context.Context, db *gorm.DB, promotionID string) ([]BudgetMove, error) {
	var out []BudgetMove
	if err := db.WithContext(ctx).Where("promotion_id = ?", promotionID).Order("created_at").Order("kind").Order("ref").
		Find(&out).Error; err != nil {
		return nil, fmt.Errorf("promotion %s: budget moves: %w", promotionID, err)
	}
	return out, nil
}

// TopUpBudget adds amount (positive, in the promotion's currency) to a
// promotion's budget, spread evenly over its buckets, and to its Total. key
// identifies the top-up (an admin request ID): topping up again with the
// same key does nothing. A promotion without a budget (unlimited) cannot be
// topped up: give it one with PutPromotion. Runs in the caller's
// transaction or on a plain handle; one statement per bucket, so prefer a
// transaction.
func TopUpBudget(ctx context.Context, tx *gorm.DB, promotionID string, amount int64, key string) error {
	v := &InvalidPromotionError{ID: promotionID}
	if amount <= 0 {
		v.add("topUp.amount", "must be positive, got %d", amount)
	}
	if key == "" || len(key) > 128 {
		v.add("topUp.key", "must be 1 to 128 bytes, got %d", len(key))
	}
	if len(v.Problems) > 0 {
		return v
	}
	tx = tx.WithContext(ctx)
	p, err := GetPromotion(ctx, tx, promotionID)
	if err != nil {
		return err
	}
	if p.Budget == 0 {
		v.add("budget", "is unlimited: give the promotion a budget before topping it up")
		return v
	}
	now := dbutil.Stamp(time.Now())
	ok, err := insertMove(tx, BudgetMove{PromotionID: p.ID, Kind: MoveTopUp, Ref: key, Amount: amount, Currency: p.Currency,
		Parts: formatParts(split(amount, p.buckets())), CreatedAt: now})
	if err != nil || !ok {
		return err
	}
	if err := fillBuckets(tx, p, amount, now); err != nil {
		return err
	}
	res := tx.Exec("UPDATE tmf_promotions SET budget = budget + ?, version = version + 1, updated_at = ? WHERE id = ?",
		amount, now, p.ID)
	if res.Error != nil {
		return fmt.Errorf("promotion %s: top up: %w", p.ID, res.Error)
	}
	return nil
}

// addBudget records a grant or top-up move and fills the buckets.
func addBudget(tx *gorm.DB, p Promotion, kind, ref string, amount int64, now time.Time) error {
	ok, err := insertMove(tx, BudgetMove{PromotionID: p.ID, Kind: kind, Ref: ref, Amount: amount, Currency: p.Currency,
		Parts: formatParts(split(amount, p.buckets())), CreatedAt: now})
	if err != nil || !ok {
		return err
	}
	return fillBuckets(tx, p, amount, now)
}

// fillBuckets creates the promotion's bucket rows if needed and adds
// amount, split evenly, to them.
func fillBuckets(tx *gorm.DB, p Promotion, amount int64, now time.Time) error {
	for b, part := range split(amount, p.buckets()) {
		if _, err := dbutil.InsertOnce(tx, &BudgetBucket{PromotionID: p.ID, Bucket: b, Currency: p.Currency, UpdatedAt: now}); err != nil {
			return fmt.Errorf("promotion %s: budget bucket %d: %w", p.ID, b, err)
		}
		if part == 0 {
			continue
		}
		if err := tx.Exec("UPDATE tmf_promotion_budgets SET remaining = remaining + ?, updated_at = ? WHERE promotion_id = ? AND bucket = ?",
			part, now, p.ID, b).Error; err != nil {
			return fmt.Errorf("promotion %s: budget bucket %d: %w", p.ID, b, err)
		}
	}
	return nil
}

// split divides amount over n buckets: amount/n each, the remainder one
// unit each to the first buckets.
func split(amount int64, n int) []int64 {
	out := make([]int64, n)
	for b := range out {
		out[b] = amount / int64(n)
		if int64(b) < amount%int64(n) {
			out[b]++
		}
	}
	return out
}

// part is money taken from, or given back to, one bucket.
type part struct {
	bucket int
	amount int64
}

func formatParts(amounts []int64) string {
	var ps []part
	for b, a := range amounts {
		if a != 0 {
			ps = append(ps, part{b, a})
		}
	}
	return joinParts(ps)
}

func joinParts(ps []part) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(p.bucket) + ":" + strconv.FormatInt(p.amount, 10)
	}
	return strings.Join(s, ",")
}

func parseParts(s string) ([]part, error) {
	var out []part
	for f := range strings.SplitSeq(s, ",") {
		if f == "" {
			continue
		}
		b, a, ok := strings.Cut(f, ":")
		bucket, err1 := strconv.Atoi(b)
		amount, err2 := strconv.ParseInt(a, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("malformed budget parts %q", s)
		}
		out = append(out, part{bucket, amount})
	}
	return out, nil
}

func readBuckets(db *gorm.DB, promotionID string) ([]BudgetBucket, error) {
	var rows []BudgetBucket
	if err := db.Where("promotion_id = ?", promotionID).Order("bucket").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("promotion %s: budget: %w", promotionID, err)
	}
	return rows, nil
}

func insertMove(tx *gorm.DB, m BudgetMove) (bool, error) {
	ok, err := dbutil.InsertOnce(tx, &m)
	if err != nil {
		return false, fmt.Errorf("promotion %s: budget ledger: %w", m.PromotionID, err)
	}
	return ok, nil
}

const takeSQL = "UPDATE tmf_promotion_budgets SET remaining = remaining - ?, updated_at = ? " +
	"WHERE promotion_id = ? AND bucket = ? AND remaining >= ?"

// consume pays amount from a promotion's budget for an order, once: the
// ledger row (promotion, consume, order) is inserted first, and an existing
// one means it was paid already. A promotion without budget rows is
// unlimited and nothing is written. Must run inside the order's
// transaction; on *BudgetExhaustedError nothing of it is left in the
// transaction.
//
// Buckets, for a budget split in n: a plain read shows what each holds.
// If the buyer's bucket, dbutil.Bucket(buyerID, n), can pay, the whole
// amount is taken from it; if that conditional update finds it short after
// all (another order was faster), the amount is taken from the buckets
// above it, in ascending order. If the read shows the buyer's bucket
// short, the amount is taken from every bucket, in ascending order from
// bucket 0. Either way each bucket gives what the read showed, at most
// what is still needed, so a discount may be paid in parts from several
// buckets; every take is a conditional update (remaining >= take). If the
// takes fall short, the parts are given back and the budget is exhausted.
//
// Why this order: a conditional update that waited for another order's
// change of the row keeps the row locked even when it then changes
// nothing (PostgreSQL, and MySQL/MariaDB always under repeatable read),
// so a transaction must take bucket locks in one global order or two
// orders could each wait for the other's bucket. Here every transaction
// locks buckets in ascending order: from its own bucket upwards, or from
// bucket 0 upwards when it holds none yet, and promotions are paid in ID
// order. No deadlock can come from budgets. The price: an order whose own
// bucket was emptied between the read and the update looks only above it,
// and may be refused while a bucket below still holds money (a later
// order, seeing the bucket empty, starts from bucket 0 and finds it), so
// no money is ever stranded. Such a refusal, or any refusal while the read
// showed enough money, is marked Contended.
func consume(tx *gorm.DB, promotionID, buyerID, orderID, currency string, amount int64, now time.Time) error {
	rows, err := readBuckets(tx, promotionID)
	if err != nil || len(rows) == 0 {
		return err
	}
	for i, r := range rows {
		if r.Bucket != i {
			return fmt.Errorf("promotion %s: budget bucket %d is missing", promotionID, i)
		}
	}
	if rows[0].Currency != currency {
		return &CurrencyMismatchError{PromotionID: promotionID, Promotion: rows[0].Currency, Order: currency}
	}
	move := BudgetMove{PromotionID: promotionID, Kind: MoveConsume, Ref: orderID, Amount: -amount, Currency: currency,
		BuyerID: buyerID, CreatedAt: now}
	ok, err := insertMove(tx, move)
	if err != nil || !ok {
		return err
	}
	take := func(bucket int, amt int64) (bool, error) {
		res := tx.Exec(takeSQL, amt, now, promotionID, bucket, amt)
		if res.Error != nil {
			return false, fmt.Errorf("promotion %s: budget bucket %d: %w", promotionID, bucket, res.Error)
		}
		return res.RowsAffected == 1, nil
	}
	own := dbutil.Bucket(buyerID, len(rows))
	var parts []part
	// order is the buckets to take from, in the order they are tried: see
	// the lock order above.
	var order []int
	if rows[own].Remaining >= amount {
		ok, err := take(own, amount)
		if err != nil {
			return err
		}
		if ok {
			parts = []part{{own, amount}}
		}
		for b := own + 1; b < len(rows); b++ {
			order = append(order, b)
		}
	} else {
		for b := range rows {
			order = append(order, b)
		}
	}
	if parts == nil {
		need := amount
		for _, b := range order {
			amt := min(need, rows[b].Remaining)
			if amt <= 0 {
				continue
			}
			ok, err := take(b, amt)
			if err != nil {
				return err
			}
			if ok {
				parts = append(parts, part{b, amt})
				if need -= amt; need == 0 {
					break
				}
			}
		}
		if need > 0 {
			for _, p := range parts {
				if err := giveBack(tx, promotionID, p, now); err != nil {
					return err
				}
			}
			if err := tx.Where("promotion_id = ? AND kind = ? AND ref = ?", promotionID, MoveConsume, orderID).
				Delete(&BudgetMove{}).Error; err != nil {
				return fmt.Errorf("promotion %s: budget ledger: %w", promotionID, err)
			}
			var seen int64
			for _, r := range rows {
				seen = addSat(seen, r.Remaining)
			}
			return &BudgetExhaustedError{PromotionID: promotionID, Requested: amount, Contended: seen >= amount}
		}
	}
	if err := tx.Model(&BudgetMove{}).Where("promotion_id = ? AND kind = ? AND ref = ?", promotionID, MoveConsume, orderID).
		Update("parts", joinParts(parts)).Error; err != nil {
		return fmt.Errorf("promotion %s: budget ledger: %w", promotionID, err)
	}
	return nil
}

func giveBack(tx *gorm.DB, promotionID string, p part, now time.Time) error {
	if err := tx.Exec("UPDATE tmf_promotion_budgets SET remaining = remaining + ?, updated_at = ? WHERE promotion_id = ? AND bucket = ?",
		p.amount, now, promotionID, p.bucket).Error; err != nil {
		return fmt.Errorf("promotion %s: budget bucket %d: %w", promotionID, p.bucket, err)
	}
	return nil
}

// releaseBudgets gives back everything an order consumed, once per
// promotion: a release move (promotion, release, order) is inserted first
// and an existing one means it was given back already. Must run inside a
// transaction.
func releaseBudgets(tx *gorm.DB, orderID string, now time.Time) error {
	var consumed []BudgetMove
	if err := tx.Where("ref = ? AND kind = ?", orderID, MoveConsume).Order("promotion_id").Find(&consumed).Error; err != nil {
		return fmt.Errorf("order %s: budget ledger: %w", orderID, err)
	}
	for _, c := range consumed {
		parts, err := parseParts(c.Parts)
		if err != nil {
			return fmt.Errorf("promotion %s, order %s: %w", c.PromotionID, orderID, err)
		}
		ok, err := insertMove(tx, BudgetMove{PromotionID: c.PromotionID, Kind: MoveRelease, Ref: orderID, Amount: -c.Amount,
			Currency: c.Currency, BuyerID: c.BuyerID, Parts: c.Parts, CreatedAt: now})
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		slices.SortFunc(parts, func(a, b part) int { return cmp.Compare(a.bucket, b.bucket) })
		for _, p := range parts {
			if err := giveBack(tx, c.PromotionID, p, now); err != nil {
				return err
			}
		}
	}
	return nil
}
