package promotion

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a promotion: the field (a JSON path such
// as "params.basisPoints") and what is wrong with it.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// InvalidPromotionError refuses a promotion (or a budget or group change)
// and lists every problem found.
type InvalidPromotionError struct {
	ID       string
	Problems []Problem
}

func (e *InvalidPromotionError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + " " + p.Message
	}
	return fmt.Sprintf("promotion %q is invalid: %s", e.ID, strings.Join(parts, "; "))
}

// VersionConflictError refuses a write based on a version of a promotion
// that is no longer the stored one (Expected 0: the promotion was to be
// created but exists).
type VersionConflictError struct {
	ID       string
	Expected int64
	Actual   int64
}

func (e *VersionConflictError) Error() string {
	if e.Expected == 0 {
		return fmt.Sprintf("promotion %s exists already (version %d): send its version to change it", e.ID, e.Actual)
	}
	return fmt.Sprintf("promotion %s is at version %d, not %d: read it again and retry", e.ID, e.Actual, e.Expected)
}

// PromotionNotFoundError: no promotion has the ID.
type PromotionNotFoundError struct{ ID string }

func (e *PromotionNotFoundError) Error() string { return fmt.Sprintf("promotion %s not found", e.ID) }

// MaxCouponsPerOrder is how many coupons one order may use (reference 003:
// at most 10 red packets per order).
const MaxCouponsPerOrder = 10

// TooManyCouponsError refuses an order that names more than Max coupons.
type TooManyCouponsError struct {
	Count int
	Max   int
}

func (e *TooManyCouponsError) Error() string {
	return fmt.Sprintf("%d coupons on one order; at most %d may be used", e.Count, e.Max)
}

// Reasons of a CouponError.
const (
	ReasonNotFound = "not_found" // no coupon has the code
	ReasonUsed     = "used"      // another order has used it
	// ReasonNotYours is no longer answered: a coupon of another buyer is
	// ReasonNotFound, so that codes cannot be probed. Kept for callers
	// that name it.
	ReasonNotYours  = "not_yours"
	ReasonExpired   = "expired"   // its expiry has passed
	ReasonDisabled  = "disabled"  // its promotion is disabled or gone
	ReasonDuplicate = "duplicate" // the order names it twice
	ReasonInvalid   = "invalid"   // the code is malformed (issuing)
)

// CouponError refuses one coupon, with a stable Reason (see the Reason
// constants).
type CouponError struct {
	Code   string
	Reason string
}

func (e *CouponError) Error() string {
	switch e.Reason {
	case ReasonNotFound:
		return fmt.Sprintf("coupon %s does not exist", e.Code)
	case ReasonUsed:
		return fmt.Sprintf("coupon %s has been used", e.Code)
	case ReasonNotYours:
		return fmt.Sprintf("coupon %s belongs to another buyer", e.Code)
	case ReasonExpired:
		return fmt.Sprintf("coupon %s has expired", e.Code)
	case ReasonDisabled:
		return fmt.Sprintf("the promotion of coupon %s is not running", e.Code)
	case ReasonDuplicate:
		return fmt.Sprintf("coupon %s is named twice", e.Code)
	case ReasonInvalid:
		return fmt.Sprintf("coupon code %q must be 1 to 64 letters, digits, '.', '_' or '-'", e.Code)
	}
	return fmt.Sprintf("coupon %s: %s", e.Code, e.Reason)
}

// CouponExistsError refuses to issue a code that exists for another
// promotion or owner. Issuing the same code again for the same promotion
// and owner is not an error.
type CouponExistsError struct {
	Code        string
	PromotionID string
	Owner       string
}

func (e *CouponExistsError) Error() string {
	return fmt.Sprintf("coupon %s exists already, for promotion %s and owner %q", e.Code, e.PromotionID, e.Owner)
}

// BudgetExhaustedError refuses a discount its promotion's budget cannot pay
// for; the order's transaction must roll back. The platform should mark
// the promotion exhausted in its Book (Book.MarkExhausted) and place the
// order again without it, or, when Contended, simply place it again.
type BudgetExhaustedError struct {
	PromotionID string
	// Requested is the discount that did not fit.
	Requested int64
	// Contended is true when the budget still held enough when this order
	// read it, but concurrent orders took it first (or what is left sits
	// in buckets this order could not wait for): the budget may not be
	// empty, and placing the order again may succeed with the promotion.
	Contended bool
}

func (e *BudgetExhaustedError) Error() string {
	if e.Contended {
		return fmt.Sprintf("promotion %s: concurrent orders took the budget for a discount of %d first", e.PromotionID, e.Requested)
	}
	return fmt.Sprintf("promotion %s: its budget cannot pay a discount of %d", e.PromotionID, e.Requested)
}

// CurrencyMismatchError refuses to spend a promotion's budget on an order
// in another currency.
type CurrencyMismatchError struct {
	PromotionID string
	Promotion   string
	Order       string
}

func (e *CurrencyMismatchError) Error() string {
	return fmt.Sprintf("promotion %s is in %s, the order in %s", e.PromotionID, e.Promotion, e.Order)
}
