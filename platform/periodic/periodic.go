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
