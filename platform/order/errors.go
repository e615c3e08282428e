package order

import (
	"fmt"
	"strings"
)

// Stable error codes of the order service. The HTTP layer maps each to a
// status in one place; clients match on the code, never on the message.
const (
	CodeInvalid            = "invalid_order"
	CodeSKUNotFound        = "sku_not_found"
	CodeMixedCurrency      = "mixed_currency"
	CodeOutOfStock         = "out_of_stock"
	CodeRejected           = "order_rejected"
	CodeAddressRequired    = "address_required"
	CodePaymentUnavailable = "payment_method_unavailable"
	CodeNotFound           = "order_not_found"
	CodeEventNotAllowed    = "event_not_allowed"
	CodeVetoed             = "transition_vetoed"
	CodeVersionConflict    = "version_conflict"
	CodeIdentity           = "identity_unresolved"
	CodePricing            = "pricing_invalid"
	CodeTooManyCoupons     = "too_many_coupons"
	CodeCouponUnavailable  = "coupon_unavailable"
	CodeBudgetExhausted    = "promotion_budget_exhausted"
	CodeInsufficientCredit = "insufficient_credit"
	CodeRegionNotServed    = "region_not_served"
	CodePaymentDeclined    = "payment_declined"
	CodePaymentInvalid     = "payment_invalid"
	CodePaymentInProgress  = "payment_in_progress"
	CodePaymentProcessor   = "payment_processor_unavailable"
	CodePaymentMethod      = "payment_method_unsupported"
	CodeReturnInvalid      = "return_invalid"
	CodePaymentNotFound    = "payment_not_found"
	CodeRefundNotRetryable = "refund_not_retryable"
	CodeReturnState        = "return_state"
	CodeReturnNotFound     = "return_not_found"
	CodeReturnWindowClosed = "return_window_closed"
	// CodeOrderStale: the order is no longer at the version the caller
	// read (Event.IfVersion); nothing was fired.
	CodeOrderStale = "order_stale"
)

// Error is a refusal of the order service with a stable code. Fields holds
// machine-readable details (the SKU out of stock, the allowed events).
type Error struct {
	Code    string
	Message string
	Fields  map[string]any
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil && !strings.Contains(e.Message, e.Err.Error()) {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func refuse(code string, fields map[string]any, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Fields: fields}
}
