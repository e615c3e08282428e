package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/store"
)

// Backlog watches what waits in the outbox (every server watches, whether
// or not its relay holds the lease) and exposes it as metrics and as a
// readiness check.
type Backlog struct {
	store *store.Store
	log   *slog.Logger
	now   func() time.Time

	mu   sync.Mutex
	last store.OutboxBacklog
	err  error
	seen bool
}

// NewBacklog returns a watcher of st's outbox; call Run to keep it current.
func NewBacklog(st *store.Store, log *slog.Logger) *Backlog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Backlog{store: st, log: log, now: time.Now}
}

// Refresh reads the backlog once.
func (b *Backlog) Refresh(ctx context.Context) error {
	v, err := b.store.Backlog(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
	if err == nil {
		b.last, b.seen = v, true
	}
	return err
}

// Run refreshes the backlog every period until ctx is done.
func (b *Backlog) Run(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if err := b.Refresh(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("outbox backlog", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Count and Age are the last backlog read: the number of events not yet
// relayed and the age of the oldest (0 when none waits).
func (b *Backlog) Count() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last.Count
}

// Age is the age of the oldest event not yet relayed, 0 when none waits.
func (b *Backlog) Age() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.Count == 0 || b.last.Oldest.IsZero() {
		return 0
	}
	return max(0, b.now().Sub(b.last.Oldest))
}

// Register adds the gauges tmf_outbox_backlog_events and
// tmf_outbox_backlog_oldest_age_seconds.
func (b *Backlog) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tmf_outbox_backlog_events",
			Help: "Committed events not yet relayed (outbox rows without delivered_at), as last read."},
			func() float64 { return float64(b.Count()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tmf_outbox_backlog_oldest_age_seconds",
			Help: "Age of the oldest committed event not yet relayed; 0 when none waits."},
			func() float64 { return b.Age().Seconds() }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("outbox backlog metrics: %w", err)
		}
	}
	return nil
}

// ReadyCheck returns a readiness check that fails while the oldest event
// not yet relayed is older than maxAge (an outage of the broker or of
// every relay); maxAge <= 0 never fails.
func (b *Backlog) ReadyCheck(maxAge time.Duration) func(ctx context.Context) error {
	return func(context.Context) error {
		if maxAge <= 0 {
			return nil
		}
		if age := b.Age(); age > maxAge {
			return fmt.Errorf("outbox backlog: the oldest event waits for %s, more than %s", age.Round(time.Second), maxAge)
		}
		return nil
	}
}
