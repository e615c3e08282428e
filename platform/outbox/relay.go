// Package outbox relays the events that state changes write to the outbox
// table in their own transaction (the local message table of the design
// notes). Delivery is at least once: an event is marked delivered only after
// every subscriber accepted it and the Publisher (a broker, when there is
// one) acknowledged it, so a subscriber may see an event again after a
// failure or a crash, and must deduplicate by Event.ID.
//
// Several servers on one database each run a relay; with Options.Lease
// set, only the one holding the database's outbox lease relays (see
// store.OutboxLease), so each event is relayed by one process at a time,
// oldest first, and a relay killed mid-batch leaves its events pending for
// the next holder, which takes over once the lease expires.
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tmf-platform/tmf/platform/store"
)

// Event is one outbox event as subscribers receive it.
type Event struct {
	// ID is unique per event; consumers deduplicate by it.
	ID          string
	Topic       string
	AggregateID string
	// BizCode is the aggregate's business identity, "" when it has none.
	BizCode string
	// Version is the aggregate's version after the change, 0 when it has none.
	Version   int64
	Payload   json.RawMessage
	CreatedAt time.Time
	// Attempt counts deliveries of this event before this one.
	Attempt int
	// Traceparent and Tracestate are the W3C trace context of the change
	// that wrote the event, "" when it was not traced.
	Traceparent, Tracestate string
}

// Handler consumes an event. An error makes the relay deliver the event
// again later, to every subscriber of its topic.
type Handler func(ctx context.Context, e Event) error

type subscription struct {
	name    string
	topic   string // "" for every topic
	handler Handler
}

// Publisher hands events to something outside the process (a broker).
// Publish gets a batch in relay order (oldest first, an aggregate's events
// by version) and returns the ids of the events whose publication was
// acknowledged, which the relay then marks delivered; the others stay
// pending and are published again on a later pass, so a publisher must
// let its broker or consumers drop duplicates by id. An error means the
// broker is unreachable: the relay backs off before the next pass. Publish
// must return when ctx is done.
type Publisher interface {
	Publish(ctx context.Context, batch []Event) (acked []string, err error)
}

// Relay polls the outbox and delivers pending events to in-process
// subscribers and to its Publisher, oldest first.
type Relay struct {
	store      *store.Store
	log        *slog.Logger
	interval   time.Duration
	batch      int
	publisher  Publisher
	lease      time.Duration
	leaseName  string
	owner      string
	maxBackoff time.Duration

	mu   sync.RWMutex
	subs []subscription
}

// Options tune a relay; zero values take the defaults.
type Options struct {
	// Interval between polls when the outbox is empty (default 200ms).
	Interval time.Duration
	// Batch is the most events read per poll (default 100).
	Batch  int
	Logger *slog.Logger
	// Publisher, when set, receives every event after the subscribers
	// accepted it; the event is marked delivered once it acknowledged.
	Publisher Publisher
	// Lease, when positive, makes the relay claim the database's outbox
	// lease (LeaseName, default "outbox") for this long and renew it every
	// pass; only the holder relays, and a pass is cut off after half the
	// lease so that it ends before another relay may take over. Zero: no
	// lease (every relay on the database relays every event).
	Lease     time.Duration
	LeaseName string
	// MaxBackoff bounds the wait after failed passes, which doubles from
	// Interval (default 30s).
	MaxBackoff time.Duration
}

// DefaultLease is the outbox lease a server's relay holds: a killed
// holder's events wait at most this long for another relay.
const DefaultLease = 10 * time.Second

// New returns a relay over the store's outbox.
func New(st *store.Store, o Options) *Relay {
	if o.Interval <= 0 {
		o.Interval = 200 * time.Millisecond
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LeaseName == "" {
		o.LeaseName = "outbox"
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &Relay{store: st, log: o.Logger, interval: o.Interval, batch: o.Batch, publisher: o.Publisher,
		lease: o.Lease, leaseName: o.LeaseName, owner: hex.EncodeToString(id[:]), maxBackoff: o.MaxBackoff}
}

// Owner is the relay's name in the outbox lease.
func (r *Relay) Owner() string { return r.owner }

// Subscribe adds a named subscriber for one topic, or for every topic when
// topic is "".
func (r *Relay) Subscribe(name, topic string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs = append(r.subs, subscription{name: name, topic: topic, handler: h})
}

// Run relays until ctx is done; with a lease, it relays only while it
// holds the lease, and gives it up when ctx ends.
func (r *Relay) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	if r.lease > 0 {
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := r.store.ReleaseOutboxLease(rctx, r.leaseName, r.owner); err != nil {
				r.log.Warn("outbox relay: release the lease", "error", err)
			}
		}()
	}
	backoff := r.interval
	idle := r.interval
	holding := false
	var signal <-chan struct{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-signal:
			timer.Stop() // Go 1.23+: no stale tick after Stop or Reset
			idle = r.interval
		}
		// Taken before looking, so that an event committed meanwhile wakes the next wait.
		signal = r.store.WorkSignal(store.WorkOutbox)
		n, held, err := r.pass(ctx)
		if held != holding && ctx.Err() == nil {
			r.log.Info("outbox relay lease", "held", held, "owner", r.owner)
			holding = held
		}
		wait := r.interval
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			r.log.Error("outbox relay; backing off", "error", err, "wait", backoff)
			wait, backoff = backoff, min(2*backoff, r.maxBackoff)
			signal = nil
		case !held:
			wait = max(r.interval, r.lease/4) // a holder renews; check back before it would expire
			backoff = r.interval
			signal = nil // the holder relays what is committed
		case n == 0:
			// Idle: wait for a committed event (store.WorkSignal: any
			// server's on PostgreSQL, this one's elsewhere) or for a wait
			// that doubles up to the store's IdlePoll. A lease that runs
			// out meanwhile is claimed again by the next pass.
			wait, idle = idle, min(2*idle, max(r.interval, r.store.IdlePoll()))
			backoff = r.interval
		default:
			backoff, idle = r.interval, r.interval
			signal = nil // busy: the next pass comes after the interval anyway
			if n == r.batch {
				wait = 0 // more are waiting
			}
		}
		timer.Reset(wait)
	}
}

// pass claims or renews the lease (when there is one) and flushes once
// while holding it.
func (r *Relay) pass(ctx context.Context) (n int, held bool, err error) {
	if r.lease <= 0 {
		n, err = r.Flush(ctx)
		return n, true, err
	}
	held, err = r.store.ClaimOutboxLease(ctx, r.leaseName, r.owner, r.lease)
	if err != nil || !held {
		return 0, false, err
	}
	pctx, cancel := context.WithTimeout(ctx, r.lease/2)
	defer cancel()
	n, err = r.Flush(pctx)
	return n, true, err
}

// Flush makes one pass: reads up to a batch of pending events, delivers
// each to the subscribers and publishes those they accepted, then marks
// the acknowledged ones delivered. It returns how many events it read.
// Flush ignores the lease: Run calls it only while holding it.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	pending, err := r.store.PendingEvents(ctx, r.batch)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	r.mu.RLock()
	subs := append([]subscription(nil), r.subs...)
	r.mu.RUnlock()
	var delivered []string
	var accepted []Event
	for _, pe := range pending {
		e := Event{ID: pe.ID, Topic: pe.Topic, AggregateID: pe.AggregateID, BizCode: pe.BizCode, Version: pe.Version, Payload: json.RawMessage(pe.Payload),
			CreatedAt: pe.CreatedAt, Attempt: pe.Attempts, Traceparent: pe.Traceparent, Tracestate: pe.Tracestate}
		if err := r.deliver(ctx, subs, e); err != nil {
			r.log.Warn("outbox delivery failed; will retry", "event", e.ID, "topic", e.Topic, "attempt", e.Attempt+1, "error", err)
			if err := r.store.RecordAttempt(ctx, e.ID); err != nil {
				return len(pending), err
			}
			continue
		}
		delivered = append(delivered, e.ID)
		accepted = append(accepted, e)
	}
	var publishErr error
	if r.publisher != nil && len(accepted) > 0 {
		delivered, publishErr = r.publisher.Publish(ctx, accepted)
		if publishErr != nil {
			publishErr = fmt.Errorf("publish %d events (%d acknowledged): %w", len(accepted), len(delivered), publishErr)
		}
	}
	if len(delivered) > 0 {
		// Acknowledged events are marked even when the pass ran out of
		// time: publishing them again would only make duplicates.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := r.store.MarkDelivered(mctx, delivered...); err != nil {
			return len(pending), fmt.Errorf("mark delivered: %w", err)
		}
	}
	return len(pending), publishErr
}

func (r *Relay) deliver(ctx context.Context, subs []subscription, e Event) (err error) {
	for _, s := range subs {
		if s.topic != "" && s.topic != e.Topic {
			continue
		}
		if err := safeCall(ctx, s.handler, e); err != nil {
			return fmt.Errorf("subscriber %s: %w", s.name, err)
		}
	}
	return nil
}

func safeCall(ctx context.Context, h Handler, e Event) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return h(ctx, e)
}
