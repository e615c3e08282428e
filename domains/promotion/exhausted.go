package promotion

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// Emptied returns, in ID order, the promotions whose budget an order's
// consumption emptied: the order consumed from them and all their buckets
// now hold nothing. Run in the order's transaction after Redeem, it reads
// what that transaction took; the order that takes the last money finds
// its promotion here (the promotion.budget_exhausted event). It only
// reads; an order that consumed no budget costs one query.
func Emptied(ctx context.Context, tx *gorm.DB, orderID string) ([]string, error) {
	db := tx.WithContext(ctx)
	var ids []string
	if err := db.Model(&BudgetMove{}).Where("kind = ? AND ref = ?", MoveConsume, orderID).Order("promotion_id").
		Pluck("promotion_id", &ids).Error; err != nil {
		return nil, fmt.Errorf("order %s: budget ledger: %w", orderID, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var left []struct {
		PromotionID string
		Remaining   int64
	}
	if err := db.Model(&BudgetBucket{}).Select("promotion_id, SUM(remaining) AS remaining").Where("promotion_id IN ?", ids).
		Group("promotion_id").Order("promotion_id").Scan(&left).Error; err != nil {
		return nil, fmt.Errorf("order %s: budgets: %w", orderID, err)
	}
	var out []string
	for _, l := range left {
		if l.Remaining <= 0 {
			out = append(out, l.PromotionID)
		}
	}
	return out, nil
}
