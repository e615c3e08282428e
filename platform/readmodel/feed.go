package readmodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/events/consumer"
)

// DefaultDurable is the name of the read model's durable JetStream
// consumer: every tmfd node feeding the same read model shares it, so each
// event is applied by one of them.
const DefaultDurable = "tmf-readmodel"

// FeedConfig configures the feed.
type FeedConfig struct {
	// Stream and SubjectPrefix of the events (defaults TMF_EVENTS and
	// tmf.events, as eventbus).
	Stream, SubjectPrefix string
	// Durable is the consumer's name (DefaultDurable).
	Durable string
	// Concurrency: events applied at once (default 8); one order's events
	// are applied one at a time, in stream order.
	Concurrency int
	// AckWait: an event a feed took and did not acknowledge (its node was
	// killed) goes to another feed this long after (default 10s; an apply
	// is one read and one upsert, and applying twice is harmless).
	AckWait time.Duration
	// OnApply is called after an order's snapshot was written (or found
	// not newer than the one held), with the version the read model now
	// holds: the in-process cache drops what is older.
	OnApply func(id string, version int64)
	// Clock is the time source of the lag (time.Now).
	Clock  func() time.Time
	Logger *slog.Logger
}

// Feed keeps the read model up to date from the event stream. Every
// event of an order (order.* and payment.*: their subject is the order id)
// makes it read that order by id from its owning store and upsert it; the
// upsert keeps the newer state, so redeliveries, duplicates and events out
// of order are harmless.
type Feed struct {
	m   *Model
	src Source
	cfg FeedConfig
	js  jetstream.JetStream
	log *slog.Logger
	met *Metrics
	c   *consumer.Consumer

	mu      sync.Mutex
	pending int64
	pendErr error
}

// NewFeed makes a feed; Start starts it.
func NewFeed(m *Model, src Source, js jetstream.JetStream, met *Metrics, cfg FeedConfig) *Feed {
	if cfg.Stream == "" {
		cfg.Stream = "TMF_EVENTS"
	}
	if cfg.SubjectPrefix == "" {
		cfg.SubjectPrefix = "tmf.events"
	}
	if cfg.Durable == "" {
		cfg.Durable = DefaultDurable
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 10 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if met == nil {
		met = NewMetrics()
	}
	return &Feed{m: m, src: src, cfg: cfg, js: js, log: cfg.Logger, met: met}
}

// Start creates (or joins) the durable consumer and starts applying events.
func (f *Feed) Start(ctx context.Context) error {
	c, err := consumer.Start(ctx, f.js, consumer.Config{Stream: f.cfg.Stream, Durable: f.cfg.Durable,
		// One filter: servers before NATS 2.10 refuse several. Events of
		// other aggregates are acknowledged without work.
		FilterSubjects: []string{f.cfg.SubjectPrefix + ".>"},
		Concurrency:    f.cfg.Concurrency, RetryDelay: time.Second, AckWait: f.cfg.AckWait, Logger: f.log}, f.Apply)
	if err != nil {
		return fmt.Errorf("readmodel: feed: %w", err)
	}
	f.c = c
	return nil
}

// Stop stops applying; events not yet acknowledged are delivered again
// to the next feed.
func (f *Feed) Stop(ctx context.Context) error {
	if f.c == nil {
		return nil
	}
	return f.c.Stop(ctx)
}

// Apply applies one event: the handler of the consumer. It returns an
// error (redelivery) when the order store or the read model fails.
func (f *Feed) Apply(ctx context.Context, e events.CloudEvent) error {
	typ, ok := events.Lookup(e.Type)
	if !ok || typ.Aggregate != events.AggregateOrder || e.Subject == "" {
		f.met.applied.WithLabelValues("ignored").Inc()
		return nil
	}
	id := e.Subject
	// A transition's event that names the order's version after it is
	// already held (a duplicate, a redelivery, or an older event after a
	// newer one) needs no read of the order store. Only a transition's:
	// payment and return events carry the version the order has, which
	// their transaction did not move, while it moved the payment balance;
	// skipping them lost refunds and settled charges.
	if e.Version > 0 && transitions[e.Type] {
		held, err := f.m.Get(ctx, id)
		if err == nil && held.Order.Version >= e.Version {
			f.met.applied.WithLabelValues("stale").Inc()
			f.observe(e)
			return nil
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			f.met.errors.Inc()
			return err
		}
	}
	snaps, err := f.src.Fetch(ctx, []string{id})
	if err != nil {
		f.met.errors.Inc()
		return err
	}
	if len(snaps) == 0 {
		// An event names only committed orders; a store that does not
		// hold it is the wrong one or was restored from an older backup:
		// nothing to apply.
		f.met.applied.WithLabelValues("missing").Inc()
		return nil
	}
	n, err := f.m.Upsert(ctx, snaps)
	if err != nil {
		f.met.errors.Inc()
		return err
	}
	if n > 0 {
		f.met.applied.WithLabelValues("applied").Inc()
	} else {
		f.met.applied.WithLabelValues("stale").Inc()
	}
	if f.cfg.OnApply != nil {
		f.cfg.OnApply(id, snaps[0].Order.Version)
	}
	f.observe(e)
	return nil
}

// transitions are the event types written by an order transition: their
// transaction moved the order to the event's version, so a row holding
// that version or a later one holds everything the event changed. A type
// missing here (a new one) is always read from the store: correct, one
// read dearer.
var transitions = map[string]bool{
	events.OrderPlaced: true, events.OrderPaid: true, events.OrderPaymentFailed: true, events.OrderCancelled: true,
	events.OrderTimedOut: true, events.OrderApproved: true, events.OrderRejected: true, events.OrderShipped: true,
	events.OrderOutboundFailed: true, events.OrderReceived: true, events.OrderInboundFailed: true, events.OrderCompleted: true,
	events.OrderTransitioned: true, events.OrderFulfilled: true, events.OrderFulfilFailed: true,
}

// observe records the lag of an applied event: now − the event's time.
func (f *Feed) observe(e events.CloudEvent) {
	if e.Time.IsZero() {
		return
	}
	now := f.cfg.Clock()
	f.met.setLag(max(now.Sub(e.Time).Seconds(), 0), now.Unix())
}

// Pending reads how many events the consumer has not yet acknowledged
// (not delivered + delivered and unacknowledged), from JetStream.
func (f *Feed) Pending(ctx context.Context) (int64, error) {
	cons, err := f.js.Consumer(ctx, f.cfg.Stream, f.cfg.Durable)
	if err != nil {
		return 0, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, err
	}
	return int64(info.NumPending) + int64(info.NumAckPending), nil
}

// Watch refreshes the pending gauge and the database's health every
// period until ctx ends.
func (f *Feed) Watch(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		f.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (f *Feed) refresh(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := f.Pending(rctx)
	f.mu.Lock()
	f.pending, f.pendErr = n, err
	f.mu.Unlock()
	if err == nil {
		f.met.pending.Set(float64(n))
	}
	up := 1.0
	if f.m.Ping(rctx) != nil {
		up = 0
	}
	f.met.up.Set(up)
}

// Status is the read model's state for operators (GET
// /v1/admin/readmodel): whether its database answers, how many events the
// feed has not applied, and the lag of the last one applied.
type Status struct {
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
	// PendingEvents: events not yet acknowledged by the feed (-1: unknown).
	PendingEvents int64 `json:"pendingEvents"`
	// LagSeconds: event time to apply of the last applied event.
	LagSeconds float64 `json:"lagSeconds"`
	// LastAppliedAt: when the last event was applied (absent: none since start).
	LastAppliedAt *time.Time `json:"lastAppliedAt,omitempty"`
	// Orders the read model holds (the planner's estimate past 100,000).
	Orders int64 `json:"orders"`
	// Fallbacks: lists answered by the order store because the read model
	// failed or was too slow, since start.
	Fallbacks int64 `json:"fallbacks"`
}

// Status reads the status now.
func (f *Feed) Status(ctx context.Context) Status {
	st := Status{Healthy: true, PendingEvents: -1}
	n, err := f.m.Estimate(ctx)
	if err != nil {
		st.Healthy, st.Error = false, err.Error()
	}
	st.Orders = n
	if p, err := f.Pending(ctx); err == nil {
		st.PendingEvents = p
	} else if st.Error == "" {
		st.Error = "events: " + err.Error()
	}
	st.LagSeconds = math.Float64frombits(uint64(f.met.lastLagBits.Load()))
	if at := f.met.lastAt.Load(); at > 0 {
		t := time.Unix(at, 0).UTC()
		st.LastAppliedAt = &t
	}
	st.Fallbacks = f.met.nFallbacks.Load()
	return st
}
