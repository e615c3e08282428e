// Package extensions is the contract that bizpack authors import: the names of
// the platform's extension points and their request and response types, as
// plain Go values with no behaviour of the platform attached.
//
// It imports no other package of this repository. Everything a business team
// needs to implement a point lives here; the platform's kernel, domains and
// services import it, never the other way round.
//
// Conventions shared by every point:
//   - money is an integer amount in minor units (cents, fen) plus an ISO 4217
//     currency code, never a float;
//   - an implementation that has nothing to say returns ErrSkip (for points
//     whose reducer is "first" the next implementation then answers);
//   - a guard or validator says no with a Verdict from Deny, never with an
//     error: an error means the implementation failed, and the point's failure
//     policy decides what happens next.
package extensions

import "errors"

// ErrSkip is returned by an implementation that does not apply to a request.
// It is an ordinary outcome, not a failure: it is recorded as "skip" and the
// point's reducer moves on (to the next implementation for "first", leaving
// the input unchanged for "pipeline", leaving the result out for "collect",
// and counting as "allow" for "all-pass").
var ErrSkip = errors.New("extensions: implementation skipped")

// Verdict is the answer of an all-pass point such as order.guard or
// order.validate. The zero Verdict denies without a reason, so an
// implementation must say Allow explicitly.
type Verdict struct {
	Allow bool `json:"allow"`
	// Code is a stable, machine-matchable reason code for a denial,
	// e.g. "credit_limit_exceeded".
	Code string `json:"code,omitempty"`
	// Reason is a human-readable explanation of a denial.
	Reason string `json:"reason,omitempty"`
}

// Allow is the verdict that lets the operation continue.
func Allow() Verdict { return Verdict{Allow: true} }

// Deny is a veto with a stable code and a human-readable reason.
func Deny(code, reason string) Verdict { return Verdict{Code: code, Reason: reason} }

// Money is an amount in minor units of an ISO 4217 currency.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}
