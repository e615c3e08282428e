// Package periodic runs a background pass at a fixed interval: the payment
// timeout sweep and payment recovery are such passes.
package periodic

import (
	"context"
	"log/slog"
	"time"
)

// Run calls pass at once and then every interval until ctx is done. An
// error of a pass is logged under what (unless ctx ended) and the next
// pass runs as planned: the work a pass does is in the database, so a
// failed pass loses nothing.
func Run(ctx context.Context, interval time.Duration, log *slog.Logger, what string, pass func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := pass(ctx); err != nil && ctx.Err() == nil {
			log.Error(what, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Idle says how a loop run by RunIdle waits between passes.
type Idle struct {
	// Busy is the wait after a pass that did work (and the first wait
	// after one that did not).
	Busy time.Duration
	// Max bounds the wait after passes that found nothing, which doubles
	// from Busy; it is asked after every such pass (a store's IdlePoll
	// depends on whether it hears other processes). Nil: Busy.
	Max func() time.Duration
	// Signal, when not nil, is taken before every pass; when it is closed
	// (work was committed) an idle wait ends at once.
	Signal func() <-chan struct{}
}

// RunIdle calls pass at once and again after Busy while it reports work;
// after a pass that found none (or failed) it waits for the signal or for
// a wait that doubles from Busy up to Max, so that an idle loop costs
// almost nothing and still wakes at once for work it is told about. An
// error is logged under what (unless ctx ended); the work is in the
// database, so a failed pass loses nothing.
func RunIdle(ctx context.Context, idle Idle, log *slog.Logger, what string, pass func(context.Context) (worked bool, err error)) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	wait := idle.Busy
	for {
		var signal <-chan struct{}
		if idle.Signal != nil {
			signal = idle.Signal()
		}
		worked, err := pass(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error(what, "error", err)
		}
		if worked && err == nil {
			wait = idle.Busy
			signal = nil // busy: the next pass comes after Busy anyway
		}
		t.Reset(wait)
		if !worked || err != nil {
			limit := idle.Busy
			if idle.Max != nil {
				limit = max(limit, idle.Max())
			}
			wait = min(2*wait, limit)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-signal:
			t.Stop() // Go 1.23+: no stale tick after Stop or Reset
			wait = idle.Busy
		}
	}
}
