// Package recovery is the payment recovery worker: it settles, in the
// background and durably, every payment attempt that nobody works on. An
// owed refund is paid (again with exponential backoff after a transient
// failure); a charge whose caller died or whose answer was lost is settled
// from what the processor knows of its keys (order.Service.RecoverPayments,
// payment.Payments.Recover).
//
// It keeps no state of its own: what is to be done is the pending payments
// in the database, each taken with a conditional update of its lease, so
// any number of server processes run a worker on one database and each
// attempt is worked on by one at a time. A restart loses nothing.
package recovery

import (
	"context"
	"log/slog"
	"time"

	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/periodic"
	"github.com/tmf-platform/tmf/platform/store"
)

// Worker runs payment recovery every interval.
type Worker struct {
	svc      *order.Service
	interval time.Duration
	batch    int
	log      *slog.Logger
}

// Options tune a worker; zero values take the defaults.
type Options struct {
	// Interval between passes (default 1s).
	Interval time.Duration
	// Batch is the most payments taken per query (default 100).
	Batch  int
	Logger *slog.Logger
}

// New returns a payment recovery worker over the order service.
func New(svc *order.Service, o Options) *Worker {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{svc: svc, interval: o.Interval, batch: o.Batch, log: o.Logger}
}

// Run makes passes until ctx is done: every interval while they settle
// payments, and less often, up to store.DuePoll, while they find none (an
// attempt becomes due for recovery when its lease runs out, which no
// commit announces).
func (w *Worker) Run(ctx context.Context) {
	idle := periodic.Idle{Busy: w.interval, Max: func() time.Duration { return store.DuePoll }}
	periodic.RunIdle(ctx, idle, w.log, "payment recovery", func(ctx context.Context) (bool, error) {
		n, err := w.Pass(ctx)
		return n > 0, err
	})
}

// Pass settles what is due now, batch after batch while batches come back
// full and make progress, and returns how many payments it settled.
func (w *Worker) Pass(ctx context.Context) (int, error) {
	settled := 0
	for {
		st, err := w.svc.RecoverPayments(ctx, w.batch)
		settled += st.Settled
		if st.Retrying > 0 {
			w.log.Warn("payment recovery: attempts left for a later try", "retrying", st.Retrying)
		}
		if err != nil || st.Taken < w.batch || st.Settled == 0 {
			return settled, err
		}
	}
}
