package payment

import (
	"fmt"
	"strings"
)

// The refusals of the domain are the exported *…Error types below; the
// platform maps each to a stable API problem code with errors.As. Database
// failures are returned wrapped with context and are none of these types.

// InvalidRequestError refuses a request whose field is missing or malformed
// (an empty key, a non-positive amount, a currency that is not three
// letters, a key longer than a column holds). Nothing was written.
type InvalidRequestError struct {
	Field  string
	Reason string
}

func (e *InvalidRequestError) Error() string {
	return fmt.Sprintf("payment: invalid %s: %s", e.Field, e.Reason)
}

// InvalidCardError refuses a card number that cannot be a card: not 12 to 19
// digits (spaces and dashes between them are allowed) or a failed Luhn
// check. Nothing was written and no processor was called.
type InvalidCardError struct {
	Reason string
}

func (e *InvalidCardError) Error() string { return "payment: invalid card number: " + e.Reason }

// DeclineError is a processor's final "no": the issuer or the acquirer
// declined the operation. It is remembered under the call's idempotency key
// (the same key answers the same decline again). Code is machine-readable
// ("card_declined", "insufficient_funds", "expired_card", "invalid_number",
// "amount_too_large", "resource_missing", …), Message is for people.
//
// Payments.Charge and Payments.Refund do not return a DeclineError: they
// record it on the payment (State failed, FailureCode, FailureMessage) and
// return that payment.
type DeclineError struct {
	Code    string
	Message string
}

func (e *DeclineError) Error() string {
	if e.Message == "" {
		return "payment: declined: " + e.Code
	}
	return "payment: declined: " + e.Code + ": " + e.Message
}

// ProcessorError is a processor failure that decided nothing: the
// processor was unreachable, failed internally, timed out (Err then wraps
// the context's error), or is still working on an earlier call with the
// same key. It is not remembered under the key: calling again with the same
// key is the way to finish the operation, and never does it twice.
//
// Payments.Charge and Payments.Refund return it (wrapped) and leave the
// payment pending, released for the next attempt with the same key.
type ProcessorError struct {
	Code    string
	Message string
	Err     error
}

func (e *ProcessorError) Error() string {
	var b strings.Builder
	b.WriteString("payment: processor error: ")
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *ProcessorError) Unwrap() error { return e.Err }

// InProgressError refuses a charge or a refund while another call is
// working on the same payment: the payment with Key (PaymentID) is pending
// and its lease has not run out. Ask again later with the same key. For a
// charge with a different key, it names the pending charge that holds the
// order: finish that one (same key, again) rather than start another.
type InProgressError struct {
	OrderID   string
	PaymentID string
	Key       string
}

func (e *InProgressError) Error() string {
	return fmt.Sprintf("payment: payment %s (key %q) of order %s is in progress", e.PaymentID, e.Key, e.OrderID)
}

// AlreadyPaidError refuses a charge of an order that already has a
// succeeded charge (PaymentID), whatever its key or method.
type AlreadyPaidError struct {
	OrderID   string
	PaymentID string
}

func (e *AlreadyPaidError) Error() string {
	return fmt.Sprintf("payment: order %s is already paid by payment %s", e.OrderID, e.PaymentID)
}

// KeyConflictError refuses a request whose idempotency key is already the
// key of a different operation (another order, kind, amount or currency).
// Keys are global: the platform should scope client keys, e.g. by order.
type KeyConflictError struct {
	Key string
	// PaymentID is the payment the key belongs to.
	PaymentID string
}

func (e *KeyConflictError) Error() string {
	return fmt.Sprintf("payment: key %q already belongs to payment %s with other parameters", e.Key, e.PaymentID)
}

// RefundExceedsError refuses a refund larger than what is left to refund
// on the order: Refundable = captured − refunded (refunds in flight count
// as refunded). An order that was never paid has Refundable 0.
type RefundExceedsError struct {
	OrderID    string
	Requested  int64
	Refundable int64
}

func (e *RefundExceedsError) Error() string {
	return fmt.Sprintf("payment: refund of %d on order %s exceeds the refundable %d", e.Requested, e.OrderID, e.Refundable)
}

// InsufficientCreditError refuses a credit reservation larger than the
// agent's available credit.
type InsufficientCreditError struct {
	Agent     string
	Requested int64
	Available int64
}

func (e *InsufficientCreditError) Error() string {
	return fmt.Sprintf("payment: agent %s has %d credit available, %d requested", e.Agent, e.Available, e.Requested)
}

// CreditLimitError refuses a credit limit below what the agent has in use
// (reserved + used).
type CreditLimitError struct {
	Agent string
	Limit int64
	InUse int64
}

func (e *CreditLimitError) Error() string {
	return fmt.Sprintf("payment: credit limit %d of agent %s is below the %d in use", e.Limit, e.Agent, e.InUse)
}

// CreditAccountNotFoundError: the agent has no credit account (no limit was
// ever set).
type CreditAccountNotFoundError struct {
	Agent string
}

func (e *CreditAccountNotFoundError) Error() string {
	return fmt.Sprintf("payment: agent %s has no credit account", e.Agent)
}

// CurrencyMismatchError refuses an amount in another currency than the
// account or the order it applies to.
type CurrencyMismatchError struct {
	Want string
	Got  string
}

func (e *CurrencyMismatchError) Error() string {
	return fmt.Sprintf("payment: currency %s where %s is expected", e.Got, e.Want)
}

// Credit reservation states, as CreditReservationError reports them.
const (
	ReservationNone     = "none"     // the order never reserved credit
	ReservationReserved = "reserved" // reserved, neither captured nor released
	ReservationCaptured = "captured" // reserved → used at payment
	ReservationReleased = "released" // reserved → available at cancellation
)

// CreditReservationError refuses a credit operation the order's
// reservation is not in the state for: capturing a released reservation,
// releasing a captured one, capturing or refunding without one, reserving
// again with another agent or amount.
type CreditReservationError struct {
	OrderID string
	// State is the reservation's state: one of the Reservation… constants.
	State string
	// Op is the refused operation: "reserve", "capture", "release" or "refund".
	Op string
}

func (e *CreditReservationError) Error() string {
	return fmt.Sprintf("payment: cannot %s the credit of order %s: reservation is %s", e.Op, e.OrderID, e.State)
}

// RefundStateError refuses to retry a payment that is not a failed card
// refund.
type RefundStateError struct {
	PaymentID string
	Kind      string
	State     string
}

func (e *RefundStateError) Error() string {
	return fmt.Sprintf("payment: %s is a %s %s, not a failed card refund", e.PaymentID, e.State, e.Kind)
}
