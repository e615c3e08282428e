package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/platform/authz"
)

// Limits of the promotion admin bodies.
const (
	// MaxCouponsPerIssue is the most codes one POST …/coupons issues.
	MaxCouponsPerIssue = 1000
	// MaxGroups is the most exclusion groups a group order declares.
	MaxGroups = 100
	// MaxBudgetKey is the longest top-up key (the domain's ledger column).
	MaxBudgetKey = 128
)

// PromotionView is a promotion with what is left of its budget.
type PromotionView struct {
	Promotion promotion.Promotion `json:"promotion"`
	Budget    promotion.Budget    `json:"budget"`
}

// PromotionList answers GET /v1/admin/promotions: the promotions the book
// holds and the declared stacking order of their exclusion groups.
type PromotionList struct {
	Promotions []promotion.Promotion `json:"promotions"`
	Groups     []string              `json:"groups"`
}

// promotionParam reads and checks the {id} of a promotion URL.
func promotionParam(c echo.Context) (string, error) {
	id := c.Param("id")
	if !skuPattern.MatchString(id) {
		return "", invalidField("id", "a promotion id is 1 to 64 of A-Z a-z 0-9 . _ -; got %q", id)
	}
	return id, nil
}

// refreshBook brings the promotion book up to date after an admin write,
// so that orders see it at once. The write has committed: a failing
// refresh is logged, and the book's periodic refresh catches up.
func (s *Server) refreshBook(c echo.Context) {
	ctx := c.Request().Context()
	if _, err := s.book.Refresh(ctx, s.store.DB(ctx)); err != nil {
		s.log.WarnContext(ctx, "refresh the promotion book", "traceId", traceID(c), "error", err)
	}
}

// putPromotion creates (version 0, 201) or updates (the version read, 200)
// a promotion; the body is the promotion as GET answers it. Its id is the
// URL's; a body naming another is refused.
func (s *Server) putPromotion(c echo.Context) error {
	id, err := promotionParam(c)
	if err != nil {
		return err
	}
	var p promotion.Promotion
	if err := s.decode(c, &p, decodeOptions{}); err != nil {
		return err
	}
	if p.ID != "" && p.ID != id {
		return invalidField("id", "the body names promotion %q, the URL %q", p.ID, id)
	}
	p.ID = id
	created := p.Version == 0
	ctx := c.Request().Context()
	var saved promotion.Promotion
	if err := s.store.Tx(ctx, func(tx *gorm.DB) error {
		before, err := promotionAt(ctx, tx, id)
		if err != nil {
			return err
		}
		if saved, err = s.book.PutPromotion(ctx, tx, p); err != nil {
			return err
		}
		after, err := promotionAt(ctx, tx, id)
		if err != nil {
			return err
		}
		return s.auditIn(ctx, tx, c, ActionPromotionsWrite, createdOr(before), auditPromotion, id, before, after)
	}); err != nil {
		return err
	}
	s.refreshBook(c)
	budget, err := promotion.GetBudget(ctx, s.store.DB(ctx), id)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, PromotionView{Promotion: saved, Budget: budget})
}

// promotionAt reads a promotion with its budget on db (a write's
// transaction) for the audit log: nil when there is no such promotion.
func promotionAt(ctx context.Context, db *gorm.DB, id string) (any, error) {
	p, err := promotion.GetPromotion(ctx, db, id)
	if errors.As(err, new(*promotion.PromotionNotFoundError)) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	budget, err := promotion.GetBudget(ctx, db, id)
	if err != nil {
		return nil, err
	}
	return PromotionView{Promotion: p, Budget: budget}, nil
}

func (s *Server) getPromotion(c echo.Context) error {
	id, err := promotionParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	db := s.store.DB(ctx)
	p, err := promotion.GetPromotion(ctx, db, id)
	if err != nil {
		return err
	}
	budget, err := promotion.GetBudget(ctx, db, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, PromotionView{Promotion: p, Budget: budget})
}

// listPromotions answers the book's promotions after a refresh, so that a
// write through another server shows too.
func (s *Server) listPromotions(c echo.Context) error {
	s.refreshBook(c)
	ps := s.book.Promotions()
	if ps == nil {
		ps = []promotion.Promotion{}
	}
	groups := s.book.GroupOrder()
	if groups == nil {
		groups = []string{}
	}
	return c.JSON(http.StatusOK, PromotionList{Promotions: ps, Groups: groups})
}

// GroupOrderRequest is the body and the answer of PUT
// /v1/admin/promotion-groups: the exclusion groups in the order they
// stack; groups not listed stack after them, alphabetically.
type GroupOrderRequest struct {
	Groups []string `json:"groups"`
}

func (s *Server) putGroupOrder(c echo.Context) error {
	var req GroupOrderRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	if req.Groups == nil {
		return invalidField("groups", "groups is required (an empty list clears the order)")
	}
	if len(req.Groups) > MaxGroups {
		return invalidField("groups", "at most %d groups", MaxGroups)
	}
	// The order in force is read from the book, brought up to date first:
	// the domain has no reader of it for a transaction.
	s.refreshBook(c)
	before := GroupOrderRequest{Groups: s.book.GroupOrder()}
	if before.Groups == nil {
		before.Groups = []string{}
	}
	ctx := c.Request().Context()
	if err := s.store.Tx(ctx, func(tx *gorm.DB) error {
		if err := s.book.SetGroupOrder(ctx, tx, req.Groups); err != nil {
			return err
		}
		return s.auditIn(ctx, tx, c, ActionPromotionsWrite, "update", auditGroups, "", before, GroupOrderRequest{Groups: req.Groups})
	}); err != nil {
		return err
	}
	s.refreshBook(c)
	return c.JSON(http.StatusOK, GroupOrderRequest{Groups: req.Groups})
}

// IssueRequest is the body of POST /v1/admin/promotions/{id}/coupons.
type IssueRequest struct {
	// Owner is the buyer the coupons belong to; absent, anyone may use them.
	Owner string   `json:"owner,omitempty"`
	Codes []string `json:"codes"`
	// ExpiresAt: the coupons are usable before it; absent, they expire with
	// the promotion's window, or never.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// auditedCoupons is what the audit log keeps of an issue: one entry, not a
// row per coupon, and the codes masked: a code is what a buyer redeems, so
// the log, readable by every admin, must not hand out usable ones.
type auditedCoupons struct {
	PromotionID string     `json:"promotionId"`
	Owner       string     `json:"owner,omitempty"`
	Count       int        `json:"count"`
	Codes       []string   `json:"codes"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
}

// maskCodes keeps the first two and last character of each code ("SP***9").
func maskCodes(codes []string) []string {
	out := make([]string, len(codes))
	for i, c := range codes {
		r := []rune(c)
		if len(r) <= 4 {
			out[i] = strings.Repeat("*", len(r))
			continue
		}
		out[i] = string(r[:2]) + strings.Repeat("*", len(r)-3) + string(r[len(r)-1:])
	}
	return out
}

// IssueResult answers POST /v1/admin/promotions/{id}/coupons.
type IssueResult struct {
	PromotionID string     `json:"promotionId"`
	Owner       string     `json:"owner,omitempty"`
	Codes       []string   `json:"codes"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
}

func (r IssueRequest) check(now time.Time) error {
	switch {
	case len(r.Codes) == 0 || len(r.Codes) > MaxCouponsPerIssue:
		return invalidField("codes", "1 to %d codes per request; this one has %d", MaxCouponsPerIssue, len(r.Codes))
	case r.Owner != "" && !principalPattern.MatchString(r.Owner):
		return invalidField("owner", "an owner is a principal id: 1 to 128 of A-Z a-z 0-9 . _ @ : -")
	case r.ExpiresAt != nil && !r.ExpiresAt.After(now):
		return invalidField("expiresAt", "expiresAt %s has passed", r.ExpiresAt.UTC().Format(time.RFC3339))
	}
	seen := make(map[string]bool, len(r.Codes))
	for i, code := range r.Codes {
		if !skuPattern.MatchString(code) {
			return invalidField(fmt.Sprintf("codes[%d]", i), "a coupon code is 1 to 64 of A-Z a-z 0-9 . _ -")
		}
		if seen[code] {
			return invalidField(fmt.Sprintf("codes[%d]", i), "code %s is listed twice", code)
		}
		seen[code] = true
	}
	return nil
}

// issueCoupons issues coupons of a coupon-backed promotion, all or none.
// Issuing the same codes to the same owner again changes nothing and
// answers the same.
func (s *Server) issueCoupons(c echo.Context) error {
	id, err := promotionParam(c)
	if err != nil {
		return err
	}
	var req IssueRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	if err := req.check(time.Now()); err != nil {
		return err
	}
	var opts []promotion.IssueOption
	if req.ExpiresAt != nil {
		opts = append(opts, promotion.ExpiresAt(req.ExpiresAt.UTC()))
	}
	ctx := c.Request().Context()
	var first promotion.Coupon
	if err := s.store.Tx(ctx, func(tx *gorm.DB) error {
		if err := promotion.IssueCoupons(ctx, tx, id, req.Owner, req.Codes, opts...); err != nil {
			return err
		}
		var err error
		if first, err = promotion.GetCoupon(ctx, tx, req.Codes[0]); err != nil {
			return err
		}
		return s.auditIn(ctx, tx, c, ActionPromotionsWrite, "issue", auditCoupons, id, nil,
			auditedCoupons{PromotionID: id, Owner: req.Owner, Count: len(req.Codes), Codes: maskCodes(req.Codes), ExpiresAt: first.ExpiresAt})
	}); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, IssueResult{PromotionID: id, Owner: req.Owner, Codes: req.Codes, ExpiresAt: first.ExpiresAt})
}

// TopUpRequest is the body of POST /v1/admin/promotions/{id}/budget. The
// top-up's key comes from the Idempotency-Key header or the key field (the
// same when both are given).
type TopUpRequest struct {
	Amount *int64 `json:"amount"`
	Key    string `json:"key,omitempty"`
}

// auditedTopUp is the budget after a top-up, with the top-up's amount and
// key (a retry with the same key leaves the budget as it was).
type auditedTopUp struct {
	promotion.Budget
	TopUp int64  `json:"topUp"`
	Key   string `json:"key"`
}

// topUpBudget adds money to a promotion's budget, once per key.
func (s *Server) topUpBudget(c echo.Context) error {
	id, err := promotionParam(c)
	if err != nil {
		return err
	}
	var req TopUpRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	if req.Amount == nil || *req.Amount <= 0 {
		return invalidField("amount", "amount is required and positive, in minor units of the promotion's currency")
	}
	key, err := s.topUpKey(c, req.Key)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.store.Tx(ctx, func(tx *gorm.DB) error {
		before, err := promotion.GetBudget(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := promotion.TopUpBudget(ctx, tx, id, *req.Amount, key); err != nil {
			return err
		}
		after, err := promotion.GetBudget(ctx, tx, id)
		if err != nil {
			return err
		}
		return s.auditIn(ctx, tx, c, ActionPromotionsWrite, "top-up", auditPromotion, id, before,
			auditedTopUp{Budget: after, TopUp: *req.Amount, Key: key})
	}); err != nil {
		return err
	}
	s.refreshBook(c)
	budget, err := promotion.GetBudget(ctx, s.store.DB(ctx), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, budget)
}

func (s *Server) topUpKey(c echo.Context, field string) (string, error) {
	header := c.Request().Header.Get(HeaderIdempotencyKey)
	if header == "" && field == "" {
		return "", problem(CodeIdempotencyKeyMissing, nil,
			"a top-up needs a key, in the Idempotency-Key header or the key field, so that a retry adds the money once")
	}
	var hk, fk string
	var err error
	if header != "" {
		if hk, err = checkIdempotencyKey(header, MaxBudgetKey); err != nil {
			return "", err
		}
	}
	if field != "" {
		if fk, err = checkIdempotencyKey(field, MaxBudgetKey); err != nil {
			return "", err
		}
	}
	if hk != "" && fk != "" && hk != fk {
		return "", invalidField("key", "the key field and the Idempotency-Key header differ")
	}
	if hk != "" {
		return hk, nil
	}
	return fk, nil
}

// getCoupon answers a coupon to those the policy lets see it: under the
// shipped policy its owner, and for an unowned coupon anyone with a known
// role; administrators and operators granted every identity ("*") see all
// coupons (a coupon belongs to no one identity). To anyone else it is
// coupon_not_found, as if absent. The order that used a coupon is shown only
// to those who may read that order.
func (s *Server) getCoupon(c echo.Context) error {
	code := c.Param("code")
	if !skuPattern.MatchString(code) {
		return invalidField("code", "a coupon code is 1 to 64 of A-Z a-z 0-9 . _ -")
	}
	ctx := c.Request().Context()
	cp, err := promotion.GetCoupon(ctx, s.store.DB(ctx), code)
	found := err == nil
	if ce := (*promotion.CouponError)(nil); errors.As(err, &ce) && ce.Reason == promotion.ReasonNotFound {
		// A missing coupon takes the path of a foreign one (a policy
		// decision on an owner no caller is) and gets the same answer, so
		// neither the answer nor its time tells which codes exist.
		cp, err = promotion.Coupon{Code: code, Owner: "\x00nobody"}, nil
	}
	if err != nil {
		return err
	}
	d, err := s.decide(c, authz.Input{Principal: principalOf(c).subject(), Action: ActionCouponRead,
		Resource: &authz.Resource{Type: resourceCoupon, ID: cp.Code, BuyerID: cp.Owner}})
	if err != nil || !d.Visible || !found {
		return couponNotFound(code)
	}
	if !d.Allow {
		return forbidden(principalOf(c), ActionCouponRead)
	}
	if cp.OrderID != "" && !s.mayRead(c, cp.OrderID) {
		cp.OrderID, cp.UsedAt = "", nil
	}
	return c.JSON(http.StatusOK, cp)
}
