// Package timeouts is the payment-timeout center: it cancels unpaid orders
// whose identity's payment timeout has passed, which releases their stock.
//
// It is durable without a table of its own: the deadline is stored with the
// order when it is placed, so a restart loses no timeout, and the cancel is an
// ordinary lifecycle transition with an optimistic version check, so two
// server processes on one database never both cancel the same order and a
// payment that lands first wins. It never cancels an order while one of
// its payment attempts is unresolved: order.Service.TimeOut settles an
// attempt nobody works on first, and leaves the order for a later sweep
// while a live call still holds one.
package timeouts

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/periodic"
	"github.com/tmf-platform/tmf/platform/store"
)

// Actor is the actor recorded in the history of a timeout.
const Actor = "system:payment-timeout"

// Center sweeps overdue unpaid orders.
type Center struct {
	svc      *order.Service
	store    *store.Store
	now      func() time.Time
	interval time.Duration
	batch    int
	log      *slog.Logger
}

// Options tune a center; zero values take the defaults.
type Options struct {
	// Interval between sweeps (default 1s).
	Interval time.Duration
	// Batch is the most orders cancelled per query (default 200).
	Batch  int
	Now    func() time.Time
	Logger *slog.Logger
}

// New returns a payment-timeout center.
func New(svc *order.Service, st *store.Store, o Options) *Center {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 200
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Center{svc: svc, store: st, now: o.Now, interval: o.Interval, batch: o.Batch, log: o.Logger}
}

// Run sweeps until ctx is done: every interval while sweeps cancel
// orders, and less often, up to store.DuePoll, while they find none (a
// payment deadline comes due by the clock, which no commit announces: an
// overdue order is cancelled at most DuePoll late).
func (c *Center) Run(ctx context.Context) {
	idle := periodic.Idle{Busy: c.interval, Max: func() time.Duration { return store.DuePoll }}
	periodic.RunIdle(ctx, idle, c.log, "payment timeout sweep", func(ctx context.Context) (bool, error) {
		n, err := c.Sweep(ctx)
		return n > 0, err
	})
}

// Sweep cancels the orders whose payment deadline has passed and returns
// how many it cancelled. An order paid or cancelled meanwhile (by a buyer or
// another process) is left as it is.
func (c *Center) Sweep(ctx context.Context) (int, error) {
	cancelled := 0
	for {
		due, err := c.store.DueForPaymentTimeout(ctx, c.now().UTC(), c.batch)
		if err != nil {
			return cancelled, err
		}
		round := 0
		for _, o := range due {
			_, err := c.svc.TimeOut(ctx, o.ID, Actor)
			var oe *order.Error
			switch {
			case err == nil:
				cancelled++
				round++
			case errors.As(err, &oe) && (oe.Code == order.CodeEventNotAllowed || oe.Code == order.CodeVersionConflict ||
				oe.Code == order.CodePaymentInProgress):
				// Someone else moved it first (paid, or cancelled by another
				// process), its lifecycle has no payment_timeout event, or a
				// payment attempt is still being worked on: a later sweep
				// comes back to it once that attempt is settled.
			default:
				c.log.Error("payment timeout", "order", o.ID, "error", err)
			}
		}
		// Another full batch only when this one made progress: orders that
		// cannot time out must not keep the sweep spinning.
		if len(due) < c.batch || round == 0 {
			return cancelled, nil
		}
	}
}
