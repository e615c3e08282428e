// Package outbox relays the events that state changes write to the outbox
// table in their own transaction (the local message table of the design
// notes). Delivery is at least once: an event is marked delivered only after
// every subscriber accepted it, so a subscriber may see an event again after
// a failure or a crash, and must deduplicate by Event.ID.
package outbox

import (
	"context"
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
}

// Handler consumes an event. An error makes the relay deliver the event
// again later, to every subscriber of its topic.
type Handler func(ctx context.Context, e Event) error

type subscription struct {
	name    string
	topic   string // "" for every topic
	handler Handler
}

// Relay polls the outbox and delivers pending events to in-process
// subscribers, oldest first.
type Relay struct {
	store    *store.Store
	log      *slog.Logger
	interval time.Duration
	batch    int

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
}

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
	return &Relay{store: st, log: o.Logger, interval: o.Interval, batch: o.Batch}
}

// Subscribe adds a named subscriber for one topic, or for every topic when
// topic is "".
func (r *Relay) Subscribe(name, topic string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs = append(r.subs, subscription{name: name, topic: topic, handler: h})
}

// Run relays until ctx is done.
func (r *Relay) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		n, err := r.Flush(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Error("outbox relay", "error", err)
		}
		wait := r.interval
		if n == r.batch {
			wait = 0 // more are waiting
		}
		timer.Reset(wait)
	}
}

// Flush makes one pass: reads up to a batch of pending events and delivers
// each. It returns how many events it read.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	pending, err := r.store.PendingEvents(ctx, r.batch)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	r.mu.RLock()
	subs := append([]subscription(nil), r.subs...)
	r.mu.RUnlock()
	var delivered []string
	for _, pe := range pending {
		e := Event{ID: pe.ID, Topic: pe.Topic, AggregateID: pe.AggregateID, BizCode: pe.BizCode, Version: pe.Version, Payload: json.RawMessage(pe.Payload),
			CreatedAt: pe.CreatedAt, Attempt: pe.Attempts}
		if err := r.deliver(ctx, subs, e); err != nil {
			r.log.Warn("outbox delivery failed; will retry", "event", e.ID, "topic", e.Topic, "attempt", e.Attempt+1, "error", err)
			if err := r.store.RecordAttempt(ctx, e.ID); err != nil {
				return len(pending), err
			}
			continue
		}
		delivered = append(delivered, e.ID)
	}
	if len(delivered) > 0 {
		if err := r.store.MarkDelivered(ctx, delivered...); err != nil {
			return len(pending), fmt.Errorf("mark delivered: %w", err)
		}
	}
	return len(pending), nil
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
