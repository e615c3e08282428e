// Package fulfilment is the fulfilment domain (reference 000, JD's virtual
// order center): goods that an outside supplier delivers after payment (a
// mobile top-up, a ticket, a game card). Its two points are how a bizpack
// talks to the supplier; the platform's fulfilment worker
// (platform/fulfilment) calls them, durably and with retries, for the
// orders of identities that configure supplier fulfilment.
//
// # Points and defaults
//
// fulfilment.dispatch (first, fail) hands a paid order to its supplier.
// It is called again for the same order after a transient answer or a
// crash, so the order id is the supplier's request key: a supplier that
// already has the order must not deliver it twice. The default,
// fulfilment.instant, answers fulfilled at once: an identity that turns on
// supplier fulfilment without binding a supplier completes through the
// fulfilling state as it would on payment.
//
// fulfilment.query (first, fail) asks the supplier what became of an order
// that it accepted (answer pending), every pollEvery of the identity until
// the supplier answers or the deadline passes. The default,
// fulfilment.no-news, answers pending.
//
// Both are "first" because one supplier fulfils an order: combining answers
// has no meaning, and a second implementation that also dispatched would
// deliver twice. Both fail rather than fall back, because falling back to
// the layer below (the instant default) would call an order delivered that
// no supplier delivered; a failure is instead retried by the worker, with
// backoff, and bounded by the deadline, after which the order is refunded.
package fulfilment

import (
	"context"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// Dispatch hands a paid order to its supplier.
var Dispatch = kernel.DeclareFirst[extensions.FulfilmentRequest, extensions.FulfilmentAnswer](extensions.FulfilmentDispatch, kernel.Options{
	Doc: "Hands a paid order to its supplier, after payment, from the platform's fulfilment worker (never while " +
		"ordering). Idempotent per order: the order id is the supplier's request key, and the platform calls again " +
		"after a transient answer, an error or a crash. Answers fulfilled, pending (the supplier answers later by " +
		"signed callback or fulfilment.query), rejected (the order is refunded and ends fulfil_failed) or transient " +
		"(retried with exponential backoff until the identity's fulfilment deadline). First: one supplier fulfils an " +
		"order. Fail, not fallback: the layer below would call the order delivered when no supplier delivered it; an " +
		"error is retried like a transient answer.",
	Policy:   kernel.Fail,
	Deadline: 10 * time.Second,
})

// Query asks the supplier what became of an order it accepted.
var Query = kernel.DeclareFirst[extensions.FulfilmentRequest, extensions.FulfilmentAnswer](extensions.FulfilmentQuery, kernel.Options{
	Doc: "Asks the supplier what became of an order it accepted (dispatch answered pending), every pollEvery of the " +
		"identity while the order is fulfilling. Answers like fulfilment.dispatch; pending means no news yet. Must " +
		"not dispatch again. First and fail, for the reasons of fulfilment.dispatch.",
	Policy:   kernel.Fail,
	Deadline: 5 * time.Second,
})

// Points lists the domain's extension points.
func Points() []kernel.Point { return []kernel.Point{Dispatch, Query} }

// Instant is the platform default of fulfilment.dispatch: nothing to hand
// to a supplier, the order is fulfilled at once.
var Instant = Dispatch.Impl("fulfilment.instant", func(ctx context.Context, _ extensions.FulfilmentRequest) (extensions.FulfilmentAnswer, error) {
	if err := ctx.Err(); err != nil {
		return extensions.FulfilmentAnswer{}, err
	}
	return extensions.FulfilmentAnswer{Outcome: extensions.FulfilmentFulfilled, Supplier: "platform"}, nil
}).WithVersion("1").WithDoc("No supplier: the order is fulfilled at once.")

// NoNews is the platform default of fulfilment.query: nothing is known.
var NoNews = Query.Impl("fulfilment.no-news", func(ctx context.Context, _ extensions.FulfilmentRequest) (extensions.FulfilmentAnswer, error) {
	if err := ctx.Err(); err != nil {
		return extensions.FulfilmentAnswer{}, err
	}
	return extensions.FulfilmentAnswer{Outcome: extensions.FulfilmentPending}, nil
}).WithVersion("1").WithDoc("No supplier to ask: pending.")

// Defaults are the platform defaults of the domain's points.
func Defaults() []kernel.Implementation { return []kernel.Implementation{Instant, NoNews} }
