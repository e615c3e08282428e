package readmodel

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/tmf-platform/tmf/platform/store"
)

// RebuildOptions configure a rebuild.
type RebuildOptions struct {
	// Reset empties the read model first (a rebuild from scratch); without
	// it the rebuild only brings every order up to date.
	Reset bool
	// Batch is how many orders are read and written at once (default 500).
	Batch int
	// Progress receives a line "n/N orders, r/s, eta D" every Every
	// (default 2s) and at the end; nil: no progress.
	Progress io.Writer
	Every    time.Duration
	// Clock is the time source (time.Now).
	Clock func() time.Time
}

// Rebuild copies every order of src into the read model, in (created_at,
// id) order, a batch at a time, and syncs the organisation tree. The feed
// may run meanwhile: an upsert never replaces a newer state, so what the
// feed applies during the rebuild stays, and events after it continue from
// the consumer's position. It returns how many orders it read.
func Rebuild(ctx context.Context, m *Model, src Source, o RebuildOptions) (int64, error) {
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Every <= 0 {
		o.Every = 2 * time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Reset {
		if err := m.Reset(ctx); err != nil {
			return 0, err
		}
	}
	tree, err := src.Orgs(ctx)
	if err != nil {
		return 0, err
	}
	if err := m.SyncOrgs(ctx, tree); err != nil {
		return 0, err
	}
	total, err := src.CountOrders(ctx)
	if err != nil {
		return 0, fmt.Errorf("readmodel: rebuild: %w", err)
	}
	start := o.Clock()
	lastLine := start
	var done int64
	progress := func() {
		if o.Progress == nil {
			return
		}
		el := o.Clock().Sub(start).Seconds()
		rate := 0.0
		if el > 0 {
			rate = float64(done) / el
		}
		eta := "?"
		if rate > 0 {
			eta = (time.Duration(float64(max(total-done, 0))/rate) * time.Second).Round(time.Second).String()
		}
		fmt.Fprintf(o.Progress, "%d/%d orders, %.0f/s, eta %s\n", done, total, rate, eta)
	}
	var after *store.Cursor
	for {
		ids, next, err := src.Scan(ctx, after, o.Batch)
		if err != nil {
			return done, err
		}
		if len(ids) == 0 {
			break
		}
		snaps, err := src.Fetch(ctx, ids)
		if err != nil {
			return done, err
		}
		if _, err := m.Upsert(ctx, snaps); err != nil {
			return done, err
		}
		done += int64(len(ids))
		after = next
		if now := o.Clock(); now.Sub(lastLine) >= o.Every {
			lastLine = now
			progress()
		}
	}
	total = max(total, done)
	progress()
	return done, nil
}

// RunOrgSync copies the organisation tree into the read model every
// period until ctx ends (a moved subtree reaches read-model lists within
// one period).
func RunOrgSync(ctx context.Context, m *Model, src Source, period time.Duration, onErr func(error)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		tree, err := src.Orgs(ctx)
		if err == nil {
			err = m.SyncOrgs(ctx, tree)
		}
		if err != nil && ctx.Err() == nil && onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
