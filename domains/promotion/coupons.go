package promotion

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tmf-platform/tmf/domains/internal/dbutil"
	"github.com/tmf-platform/tmf/extensions"
)

// IssueOption changes how IssueCoupons issues coupons.
type IssueOption func(*issueConfig)

type issueConfig struct {
	expiresAt *time.Time
}

// ExpiresAt makes the coupons expire at t (usable before t). Without it a
// coupon expires at the end of its promotion's window, or never.
func ExpiresAt(t time.Time) IssueOption {
	return func(c *issueConfig) { v := dbutil.Stamp(t); c.expiresAt = &v }
}

// MaxOwnerLen is the longest buyer ID a coupon can belong to.
const MaxOwnerLen = 128

// issueBatch is how many coupons one INSERT carries.
const issueBatch = 500

// IssueCoupons issues coupons of a coupon-backed promotion: one per code,
// available, belonging to owner ("" = anyone may use it). Issuing a code
// again for the same promotion and owner does nothing (retries are safe); a
// code that exists for another promotion or owner is a
// *CouponExistsError. Codes are 1 to 64 letters, digits, '.', '_' or '-'.
// Runs in the caller's transaction or on a plain handle (then a failure
// may leave the earlier batches issued; retrying is safe).
func IssueCoupons(ctx context.Context, tx *gorm.DB, promotionID, owner string, codes []string, opts ...IssueOption) error {
	var cfg issueConfig
	for _, o := range opts {
		o(&cfg)
	}
	for _, c := range codes {
		if !keyPattern.MatchString(c) {
			return &CouponError{Code: c, Reason: ReasonInvalid}
		}
	}
	if len(owner) > MaxOwnerLen {
		return fmt.Errorf("coupons of %s: owner %.20q… is longer than %d bytes", promotionID, owner, MaxOwnerLen)
	}
	tx = tx.WithContext(ctx)
	p, err := GetPromotion(ctx, tx, promotionID)
	if err != nil {
		return err
	}
	if !p.CouponRequired {
		v := &InvalidPromotionError{ID: p.ID}
		v.add("couponRequired", "is false: promotion %s applies without coupons, so it issues none", p.ID)
		return v
	}
	expires := cfg.expiresAt
	if expires == nil {
		expires = p.Conditions.EndsAt
	}
	now := dbutil.Stamp(time.Now())
	for batch := range slices.Chunk(codes, issueBatch) {
		rows := make([]Coupon, len(batch))
		for i, c := range batch {
			rows[i] = Coupon{Code: c, PromotionID: p.ID, Owner: owner, State: CouponAvailable, ExpiresAt: expires,
				CreatedAt: now, UpdatedAt: now}
		}
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows)
		if res.Error != nil {
			return fmt.Errorf("coupons of %s: issue: %w", p.ID, res.Error)
		}
		if res.RowsAffected == int64(len(rows)) {
			continue
		}
		// Some existed: they must be the same coupons.
		var have []Coupon
		if err := tx.Where("code IN ?", batch).Find(&have).Error; err != nil {
			return fmt.Errorf("coupons of %s: issue: %w", p.ID, err)
		}
		for _, h := range have {
			if h.PromotionID != p.ID || h.Owner != owner {
				return &CouponExistsError{Code: h.Code, PromotionID: h.PromotionID, Owner: h.Owner}
			}
		}
	}
	return nil
}

// GetCoupon reads one coupon, on any handle; a *CouponError with
// ReasonNotFound if there is none.
func GetCoupon(ctx context.Context, db *gorm.DB, code string) (Coupon, error) {
	var c Coupon
	err := db.WithContext(ctx).Where("code = ?", code).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Coupon{}, &CouponError{Code: code, Reason: ReasonNotFound}
	}
	if err != nil {
		return Coupon{}, fmt.Errorf("coupon %s: %w", code, err)
	}
	return c, nil
}

// CheckCoupons checks the coupons an order names, before it is priced, and
// maps each code to its promotion's ID, for
// PromotionRequest.CouponPromotions. At most MaxCouponsPerOrder codes
// (*TooManyCouponsError); each code once; each must exist, belong to the
// buyer or to nobody, be available, not have expired at now (a coupon
// expiring at E is usable before E), and its promotion must be enabled.
// The first code that fails, in the order given, is answered with a
// *CouponError whose Reason is "duplicate", "not_found" (also for a coupon
// of another buyer, which must read as a missing one), "used", "expired"
// or "disabled". It only reads, on a plain handle before
// the order's transaction: the coupons are taken by Redeem, in the order's
// transaction, which is what settles a race.
func CheckCoupons(ctx context.Context, db *gorm.DB, buyerID string, codes []string, now time.Time) (map[string]string, error) {
	if len(codes) > MaxCouponsPerOrder {
		return nil, &TooManyCouponsError{Count: len(codes), Max: MaxCouponsPerOrder}
	}
	seen := make(map[string]bool, len(codes))
	for _, c := range codes {
		if seen[c] {
			return nil, &CouponError{Code: c, Reason: ReasonDuplicate}
		}
		seen[c] = true
	}
	out := make(map[string]string, len(codes))
	if len(codes) == 0 {
		return out, nil
	}
	db = db.WithContext(ctx)
	var rows []Coupon
	if err := db.Where("code IN ?", codes).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("check coupons: %w", err)
	}
	byCode := make(map[string]Coupon, len(rows))
	var ids []string
	for _, r := range rows {
		byCode[r.Code] = r
		if !slices.Contains(ids, r.PromotionID) {
			ids = append(ids, r.PromotionID)
		}
	}
	var enabled []string
	if len(ids) > 0 {
		if err := db.Model(&promotionRow{}).Where("id IN ? AND enabled = ?", ids, true).Pluck("id", &enabled).Error; err != nil {
			return nil, fmt.Errorf("check coupons: %w", err)
		}
	}
	for _, code := range codes {
		r, ok := byCode[code]
		reason := ""
		switch {
		case !ok:
			reason = ReasonNotFound
		case r.Owner != "" && r.Owner != buyerID:
			// As a missing one: the answer must not tell a buyer which
			// codes exist for others.
			reason = ReasonNotFound
		case r.State != CouponAvailable:
			reason = ReasonUsed
		case r.ExpiresAt != nil && !now.Before(*r.ExpiresAt):
			reason = ReasonExpired
		case !slices.Contains(enabled, r.PromotionID):
			reason = ReasonDisabled
		}
		if reason != "" {
			return nil, &CouponError{Code: code, Reason: reason}
		}
		out[code] = r.PromotionID
	}
	return out, nil
}

// RedeemRequest is what Redeem needs of a placed order.
type RedeemRequest struct {
	OrderID string
	BuyerID string
	// Applied are the candidates promotion.stack applied, with the
	// discounts they contribute.
	Applied []extensions.Candidate
	// Currency of the order; budgets refuse other currencies.
	Currency string
	// Now is when the coupons are used and checked for expiry; zero means
	// time.Now().
	Now time.Time
}

// Redeem takes what an order's applied promotions use. It must run inside
// the order's transaction, and an error means the caller must roll the
// transaction back (the order flow does).
//
// For every applied "coupon:<code>" candidate, in code order, a coupon-use
// move (code, order) is inserted first and, if it is new, the coupon goes
// from available to used by this order with one conditional update (it
// must also belong to the buyer or nobody and not have expired). If no row
// changes, another order won the coupon, or it is not the buyer's or has
// expired: a *CouponError with Reason "used", "not_yours", "expired" or
// "not_found". Of two orders racing for one coupon exactly one succeeds.
//
// Then, for every promotion behind the applied candidates ("promo:<id>",
// and the coupons' promotions), in ID order, the sum of their discounts is
// paid from its budget, if it has one (see consume):
// *BudgetExhaustedError or *CurrencyMismatchError refuse the order.
//
// Redeem is idempotent per order: running it again for an order it
// already redeemed changes nothing. Candidates of other sources (bizpacks)
// are ignored.
func Redeem(ctx context.Context, tx *gorm.DB, req RedeemRequest) error {
	if req.OrderID == "" || len(req.OrderID) > 40 {
		return fmt.Errorf("redeem: order id %q must be 1 to 40 bytes", req.OrderID)
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = dbutil.Stamp(now)
	tx = tx.WithContext(ctx)
	spend := map[string]int64{}
	type use struct {
		code     string
		discount int64
	}
	var uses []use
	for _, c := range req.Applied {
		d := max(c.Discount, 0)
		switch {
		case strings.HasPrefix(c.ID, CouponPrefix):
			uses = append(uses, use{strings.TrimPrefix(c.ID, CouponPrefix), d})
		case strings.HasPrefix(c.ID, PromoPrefix):
			id := strings.TrimPrefix(c.ID, PromoPrefix)
			spend[id] = addSat(spend[id], d)
		}
	}
	slices.SortFunc(uses, func(a, b use) int { return strings.Compare(a.code, b.code) })
	for _, u := range uses {
		c, err := GetCoupon(ctx, tx, u.code)
		if err != nil {
			return err
		}
		spend[c.PromotionID] = addSat(spend[c.PromotionID], u.discount)
		ok, err := dbutil.InsertOnce(tx, &CouponMove{Code: u.code, OrderID: req.OrderID, Kind: MoveUse,
			PromotionID: c.PromotionID, BuyerID: req.BuyerID, CreatedAt: now})
		if err != nil {
			return fmt.Errorf("coupon %s: ledger: %w", u.code, err)
		}
		if !ok {
			continue // this order used it already
		}
		res := tx.Exec("UPDATE tmf_coupons SET state = ?, order_id = ?, used_at = ?, updated_at = ? "+
			"WHERE code = ? AND state = ? AND (owner = '' OR owner = ?) AND (expires_at IS NULL OR expires_at > ?)",
			CouponUsed, req.OrderID, now, now, u.code, CouponAvailable, req.BuyerID, now)
		if res.Error != nil {
			return fmt.Errorf("coupon %s: use: %w", u.code, res.Error)
		}
		if res.RowsAffected != 1 {
			reason := ReasonUsed
			switch {
			case c.Owner != "" && c.Owner != req.BuyerID:
				reason = ReasonNotFound // as a missing one, see CheckCoupons
			case c.State == CouponAvailable && c.ExpiresAt != nil && !now.Before(*c.ExpiresAt):
				reason = ReasonExpired
			}
			return &CouponError{Code: u.code, Reason: reason}
		}
	}
	ids := make([]string, 0, len(spend))
	for id, amt := range spend {
		if amt > 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := consume(tx, id, req.BuyerID, req.OrderID, req.Currency, spend[id], now); err != nil {
			return err
		}
	}
	return nil
}

// Release gives back what an order took, when it is cancelled before
// payment: its coupons become available again (and may be used by another
// order) and its budget consumption returns to the buckets it came from.
// Each coupon and each promotion is released once: a release move is
// inserted first, and an existing one means it was released already, so
// Release is idempotent and a second call changes nothing. An order that
// took nothing is a no-op. Must run inside a transaction (the
// cancellation's).
func Release(ctx context.Context, tx *gorm.DB, orderID string) error {
	tx = tx.WithContext(ctx)
	now := dbutil.Stamp(time.Now())
	var used []CouponMove
	if err := tx.Where("order_id = ? AND kind = ?", orderID, MoveUse).Find(&used).Error; err != nil {
		return fmt.Errorf("order %s: coupon ledger: %w", orderID, err)
	}
	slices.SortFunc(used, func(a, b CouponMove) int { return cmp.Compare(a.Code, b.Code) })
	for _, u := range used {
		ok, err := dbutil.InsertOnce(tx, &CouponMove{Code: u.Code, OrderID: orderID, Kind: MoveRelease,
			PromotionID: u.PromotionID, BuyerID: u.BuyerID, CreatedAt: now})
		if err != nil {
			return fmt.Errorf("coupon %s: ledger: %w", u.Code, err)
		}
		if !ok {
			continue
		}
		if err := tx.Exec("UPDATE tmf_coupons SET state = ?, order_id = '', used_at = NULL, updated_at = ? "+
			"WHERE code = ? AND state = ? AND order_id = ?", CouponAvailable, now, u.Code, CouponUsed, orderID).Error; err != nil {
			return fmt.Errorf("coupon %s: release: %w", u.Code, err)
		}
	}
	return releaseBudgets(tx, orderID, now)
}
