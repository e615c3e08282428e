package order

import (
	"context"
	"strings"

	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/store"
	"gorm.io/gorm"
)

// WithLowStock sets the low-stock threshold of the stock.low event
// (stock.DefaultLowThreshold by default); 0 or less announces only
// stock.out.
func WithLowStock(n int64) Option { return func(s *Service) { s.lowStock = n } }

// couponEvents are the coupon.used events of a placement, one per coupon
// the order applied, written with the order. Coupons, stock levels and
// budgets are not orders: their events carry no identity or version.
func couponEvents(o store.Order, applied []extensions.Candidate) []store.OutboxEvent {
	var out []store.OutboxEvent
	for _, c := range applied {
		code, ok := strings.CutPrefix(c.ID, promotion.CouponPrefix)
		if !ok {
			continue
		}
		p := map[string]any{"code": code, "orderId": o.ID, "buyerId": o.BuyerID, "discount": max(c.Discount, 0), "currency": o.Currency}
		if c.PromotionID != "" {
			p["promotionId"] = c.PromotionID
		}
		e := event(events.CouponUsed, code, p, o.CreatedAt)
		out = append(out, e)
	}
	return out
}

// levelEvents is the last step of a placement's transaction: after the
// stock is reserved and the budgets paid, it writes stock.out / stock.low
// for every SKU the reservation took to zero or under the low threshold,
// and promotion.budget_exhausted for every promotion whose budget the
// order emptied. It reads (one query for stock, one more when promotions
// applied) and writes nothing when nothing crossed.
func (s *Service) levelEvents(o store.Order, reserve stock.ReserveRequest, applied []extensions.Candidate) store.Step {
	return func(ctx context.Context, tx *gorm.DB) error {
		took := map[string]int64{}
		var skus []string
		for _, l := range reserve.Lines {
			if took[l.SKU] == 0 {
				skus = append(skus, l.SKU)
			}
			took[l.SKU] += l.Quantity
		}
		var after map[string]int64
		if len(skus) > 0 { // a parent order reserves nothing: its sub-orders do
			var err error
			if after, err = stock.Sellable(ctx, s.stock.Reads(ctx, tx), reserve.Location, skus); err != nil {
				return err
			}
		}
		for _, c := range stock.Crossings(after, took, skus, s.lowStock) {
			typ := events.StockLow
			if c.Out {
				typ = events.StockOut
			}
			e := event(typ, c.SKU, map[string]any{"sku": c.SKU, "location": reserve.Location, "sellable": c.Sellable,
				"threshold": max(s.lowStock, 0), "orderId": o.ID}, o.CreatedAt)
			if err := s.store.EnqueueIn(tx, c.SKU, e); err != nil {
				return err
			}
		}
		if len(applied) == 0 {
			return nil
		}
		emptied, err := promotion.Emptied(ctx, tx, o.ID)
		if err != nil {
			return err
		}
		for _, id := range emptied {
			e := event(events.PromotionBudgetExhausted, id, map[string]any{"promotionId": id, "orderId": o.ID, "currency": o.Currency},
				o.CreatedAt)
			if err := s.store.EnqueueIn(tx, id, e); err != nil {
				return err
			}
		}
		return nil
	}
}
