// Package consumer is what a downstream team needs to receive the
// platform's events from NATS JetStream: a durable pull consumer that
// decodes each message's CloudEvent, drops duplicates by event id (and,
// optionally, versions of an aggregate older than one already handled),
// calls the handler with bounded concurrency, acknowledges after the
// handler returns and asks for redelivery after a delay when it fails.
//
// Events of one aggregate (one order: CloudEvent.Subject) are handled one
// at a time, in the order the stream holds them; events of different
// aggregates run in parallel on up to Config.Concurrency workers.
// Delivery is at least once: a crash between the handler and the ack
// redelivers, and the dedupe memory of a new process is empty unless a
// Config.Dedupe store keeps it, so handlers should be idempotent.
package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tmf-platform/tmf/platform/events"
)

// Handler handles one event. Returning nil acknowledges it; an error asks
// JetStream to deliver it again after Config.RetryDelay. The context ends
// when the consumer stops.
type Handler func(ctx context.Context, e events.CloudEvent) error

// DedupeStore remembers handled event ids beyond the in-memory window, for
// a consumer that must not handle an event twice across restarts (a
// table in the consumer's own database). Seen is asked before the handler
// runs; Remember is called after it succeeded.
type DedupeStore interface {
	Seen(ctx context.Context, id string) (bool, error)
	Remember(ctx context.Context, id string) error
}

// Config of a consumer; zero values take the defaults.
type Config struct {
	// Stream the events are in (default TMF_EVENTS).
	Stream string
	// Durable is the consumer's name: its position survives restarts and
	// is shared by the processes of one downstream service. Required.
	Durable string
	// FilterSubjects narrow what is received, e.g.
	// "tmf.events.order.placed.>"; none: everything in the stream.
	FilterSubjects []string
	// Concurrency is how many events are handled at once (default 4).
	Concurrency int
	// DedupeSize is how many handled event ids are remembered in memory
	// (default 100,000).
	DedupeSize int
	// Dedupe, when set, also remembers handled ids beyond the memory.
	Dedupe DedupeStore
	// DropStale skips an event whose tmfversion is not newer than the
	// last handled of its subject (an older snapshot never overwrites a
	// newer one); events without a version are always handled. The last
	// versions of up to DedupeSize subjects are remembered.
	DropStale bool
	// RetryDelay before a failed event is delivered again (default 1s).
	RetryDelay time.Duration
	// AckWait: an event not acknowledged this long after its delivery is
	// delivered again (default 30s); a handler should return well within.
	AckWait time.Duration
	// MaxDeliver bounds the deliveries of one event (default: no bound).
	MaxDeliver int
	Logger     *slog.Logger
}

// Consumer receives events until Stop.
type Consumer struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	msgs    jetstream.MessagesContext
	ctx     context.Context
	cancel  context.CancelFunc
	queues  []chan jetstream.Msg
	done    chan struct{}
	ids     *lru[struct{}]
	vers    *lru[int64]
	stopped sync.Once
}

// Start creates or updates the durable consumer on the stream and starts
// receiving.
func Start(ctx context.Context, js jetstream.JetStream, cfg Config, h Handler) (*Consumer, error) {
	if cfg.Durable == "" {
		return nil, errors.New("consumer: Durable is required")
	}
	if h == nil {
		return nil, errors.New("consumer: the handler is nil")
	}
	if cfg.Stream == "" {
		cfg.Stream = "TMF_EVENTS"
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.DedupeSize <= 0 {
		cfg.DedupeSize = 100_000
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = time.Second
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.MaxDeliver <= 0 {
		cfg.MaxDeliver = -1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cc := jetstream.ConsumerConfig{Durable: cfg.Durable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.AckWait,
		MaxDeliver: cfg.MaxDeliver, MaxAckPending: 16 * cfg.Concurrency, DeliverPolicy: jetstream.DeliverAllPolicy}
	switch len(cfg.FilterSubjects) {
	case 0:
	case 1:
		cc.FilterSubject = cfg.FilterSubjects[0]
	default:
		cc.FilterSubjects = cfg.FilterSubjects
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, cc)
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", cfg.Durable, cfg.Stream, err)
	}
	msgs, err := cons.Messages(jetstream.PullMaxMessages(4 * cfg.Concurrency))
	if err != nil {
		return nil, fmt.Errorf("consumer %s: pull: %w", cfg.Durable, err)
	}
	c := &Consumer{cfg: cfg, handler: h, log: cfg.Logger, msgs: msgs, done: make(chan struct{}),
		ids: newLRU[struct{}](cfg.DedupeSize), vers: newLRU[int64](cfg.DedupeSize)}
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	for range cfg.Concurrency {
		q := make(chan jetstream.Msg, 4)
		c.queues = append(c.queues, q)
		workers.Go(func() {
			for m := range q {
				c.handle(m)
			}
		})
	}
	go func() {
		defer close(c.done)
		defer workers.Wait()
		defer func() {
			for _, q := range c.queues {
				close(q)
			}
		}()
		for {
			m, err := msgs.Next()
			if err != nil {
				if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				c.log.Warn("consumer: next message", "durable", cfg.Durable, "error", err)
				continue
			}
			c.queues[c.worker(m)] <- m
		}
	}()
	return c, nil
}

// Stop stops receiving, lets the handlers in progress finish (those
// waiting are not acknowledged and are delivered again later), and
// returns when every worker is done or ctx ends.
func (c *Consumer) Stop(ctx context.Context) error {
	c.stopped.Do(func() { c.msgs.Drain() })
	select {
	case <-c.done:
		c.cancel()
		return nil
	case <-ctx.Done():
		c.cancel()
		return ctx.Err()
	}
}

// worker picks the queue of a message's aggregate, so one aggregate's
// events are handled in order.
func (c *Consumer) worker(m jetstream.Msg) int {
	var probe struct {
		Subject string `json:"subject"`
	}
	_ = json.Unmarshal(m.Data(), &probe)
	key := probe.Subject
	if key == "" {
		key = m.Subject()
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(len(c.queues)))
}

func (c *Consumer) handle(m jetstream.Msg) {
	var e events.CloudEvent
	if err := json.Unmarshal(m.Data(), &e); err != nil || e.Validate() != nil {
		c.log.Error("consumer: not a CloudEvent; terminated", "durable", c.cfg.Durable, "subject", m.Subject(), "error", err)
		_ = m.Term()
		return
	}
	if c.skip(e) {
		_ = m.Ack()
		return
	}
	if err := c.call(e); err != nil {
		c.log.Warn("consumer: handler failed; redelivery later", "durable", c.cfg.Durable, "event", e.ID, "type", e.Type, "error", err)
		_ = m.NakWithDelay(c.cfg.RetryDelay)
		return
	}
	if c.cfg.Dedupe != nil {
		if err := c.cfg.Dedupe.Remember(c.ctx, e.ID); err != nil {
			c.log.Warn("consumer: remember handled event", "event", e.ID, "error", err)
		}
	}
	c.ids.put(e.ID, struct{}{})
	if c.cfg.DropStale && e.Version > 0 && e.Subject != "" {
		c.vers.put(e.Subject, e.Version)
	}
	if err := m.DoubleAck(c.ctx); err != nil {
		c.log.Warn("consumer: ack", "event", e.ID, "error", err)
	}
}

// skip reports whether e was handled before or is stale.
func (c *Consumer) skip(e events.CloudEvent) bool {
	if _, ok := c.ids.get(e.ID); ok {
		return true
	}
	if c.cfg.DropStale && e.Version > 0 && e.Subject != "" {
		if v, ok := c.vers.get(e.Subject); ok && e.Version <= v {
			return true
		}
	}
	if c.cfg.Dedupe != nil {
		seen, err := c.cfg.Dedupe.Seen(c.ctx, e.ID)
		if err != nil {
			c.log.Warn("consumer: dedupe store", "event", e.ID, "error", err)
			return false // at least once: handle it rather than lose it
		}
		return seen
	}
	return false
}

func (c *Consumer) call(e events.CloudEvent) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("handler panicked: %v", v)
		}
	}()
	return c.handler(c.ctx, e)
}
