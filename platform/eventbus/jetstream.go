// Package eventbus publishes the platform's committed events to NATS
// JetStream: it is the outbox relay's Publisher (outbox.Publisher). Each
// event goes out as its CloudEvents 1.0 JSON envelope (content type
// application/cloudevents+json) on the subject
// <prefix>.<type>.<bizCode> ("_" for an event without identity), with the
// header Nats-Msg-Id set to the event id, so the stream drops a duplicate
// published again within its duplicate window (after a relay crashed
// between the publish and marking the event relayed).
package eventbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/outbox"
)

// ContentType is the content type of every message: a structured CloudEvent.
const ContentType = "application/cloudevents+json"

// Defaults of a Stream.
const (
	DefaultStream        = "TMF_EVENTS"
	DefaultSubjectPrefix = "tmf.events"
	DefaultMaxAge        = 7 * 24 * time.Hour
	DefaultDuplicates    = 2 * time.Minute
	DefaultWindow        = 256
	DefaultAckTimeout    = 10 * time.Second
)

// Stream is the JetStream stream the events go to, created with these
// settings when it is missing (an existing stream is used as it is, so an
// operator may tune it with the nats CLI).
type Stream struct {
	// Name of the stream (default TMF_EVENTS).
	Name string
	// SubjectPrefix of every event's subject (default tmf.events); the
	// stream listens on <prefix>.>.
	SubjectPrefix string
	// MaxAge: events older than this are removed (limits retention;
	// default 7 days).
	MaxAge time.Duration
	// MaxBytes bounds the stream's size; 0: no bound.
	MaxBytes int64
	// Replicas of the stream in a NATS cluster (default 1).
	Replicas int
	// Duplicates is the window in which a message id seen before is
	// dropped (default 2 minutes); it must exceed the longest time a
	// relay may take between publishing an event and marking it relayed.
	Duplicates time.Duration
}

func (s Stream) withDefaults() Stream {
	if s.Name == "" {
		s.Name = DefaultStream
	}
	if s.SubjectPrefix == "" {
		s.SubjectPrefix = DefaultSubjectPrefix
	}
	if s.MaxAge <= 0 {
		s.MaxAge = DefaultMaxAge
	}
	if s.Replicas <= 0 {
		s.Replicas = 1
	}
	if s.Duplicates <= 0 {
		s.Duplicates = DefaultDuplicates
	}
	return s
}

// Options configure a Publisher; zero values take the defaults.
type Options struct {
	// URL of the NATS server(s), e.g. nats://127.0.0.1:4222.
	URL    string
	Stream Stream
	// Source is the CloudEvents source (default events.DefaultSource).
	Source string
	// Window is the most publishes awaiting their acknowledgement
	// (default 256).
	Window int
	// AckTimeout bounds the wait for one acknowledgement (default 10s).
	AckTimeout time.Duration
	Logger     *slog.Logger
}

// Publisher publishes outbox events to JetStream; it implements
// outbox.Publisher. It is safe for one relay at a time.
type Publisher struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	o      Options
	log    *slog.Logger
	mu     sync.Mutex
	stream bool // the stream is known to exist
}

// Connect returns a Publisher on the NATS server at o.URL. An unreachable
// server is not an error: the connection keeps retrying in the
// background, and Publish fails (the events wait in the outbox) until it
// is back. The stream is created on the first publish that finds it
// missing.
func Connect(o Options) (*Publisher, error) {
	o.Stream = o.Stream.withDefaults()
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = DefaultAckTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	log := o.Logger
	nc, err := nats.Connect(o.URL, nats.Name("tmfd outbox relay"), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("events: NATS disconnected; events wait in the outbox", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("events: NATS reconnected", "server", c.ConnectedUrlRedacted()) }))
	if err != nil {
		return nil, fmt.Errorf("events: connect to %s: %w", o.URL, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(o.Window), jetstream.WithPublishAsyncTimeout(o.AckTimeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("events: JetStream: %w", err)
	}
	return &Publisher{nc: nc, js: js, o: o, log: log}, nil
}

// Close drains nothing: events not acknowledged stay in the outbox.
func (p *Publisher) Close() { p.nc.Close() }

// Subject is the subject an event is published on: the prefix, the event
// type and the business identity ("_" when the event has none).
func Subject(prefix string, ce events.CloudEvent) string {
	return events.SubjectWith(prefix, ce)
}

// EnsureStream creates the stream when it is missing.
func (p *Publisher) EnsureStream(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stream {
		return nil
	}
	s := p.o.Stream
	_, err := p.js.Stream(ctx, s.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = p.js.CreateStream(ctx, jetstream.StreamConfig{Name: s.Name, Subjects: []string{s.SubjectPrefix + ".>"},
			Retention: jetstream.LimitsPolicy, MaxAge: s.MaxAge, MaxBytes: maxBytes(s.MaxBytes), Replicas: s.Replicas,
			Duplicates: s.Duplicates, Storage: jetstream.FileStorage})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another server made it
		}
		if err == nil {
			p.log.Info("events: created the JetStream stream", "stream", s.Name, "subjects", s.SubjectPrefix+".>")
		}
	}
	if err != nil {
		return fmt.Errorf("events: stream %s: %w", s.Name, err)
	}
	p.stream = true
	return nil
}

func maxBytes(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// Publish sends the batch in order, at most Window awaiting their
// acknowledgement at a time, and returns the ids JetStream acknowledged.
// It stops at the first window with a failure: the rest waits for the
// next pass.
func (p *Publisher) Publish(ctx context.Context, batch []outbox.Event) ([]string, error) {
	if err := p.EnsureStream(ctx); err != nil {
		return nil, err
	}
	acked := make([]string, 0, len(batch))
	for start := 0; start < len(batch); start += p.o.Window {
		chunk := batch[start:min(start+p.o.Window, len(batch))]
		futures := make([]jetstream.PubAckFuture, 0, len(chunk))
		var firstErr error
		for _, e := range chunk {
			msg, err := p.message(e)
			if err != nil {
				firstErr = err
				break
			}
			f, err := p.js.PublishMsgAsync(msg, jetstream.WithMsgID(e.ID))
			if err != nil {
				firstErr = fmt.Errorf("events: publish %s: %w", e.ID, err)
				break
			}
			futures = append(futures, f)
		}
		for i, f := range futures {
			select {
			case <-f.Ok():
				acked = append(acked, chunk[i].ID)
			case err := <-f.Err():
				if firstErr == nil {
					firstErr = fmt.Errorf("events: publish %s: %w", chunk[i].ID, err)
				}
			case <-ctx.Done():
				return acked, ctx.Err()
			}
		}
		if firstErr != nil {
			if errors.Is(firstErr, jetstream.ErrStreamNotFound) || errors.Is(firstErr, jetstream.ErrNoStreamResponse) {
				p.mu.Lock()
				p.stream = false // deleted by an operator, or the server lost it: make it again
				p.mu.Unlock()
			}
			return acked, firstErr
		}
	}
	return acked, nil
}

func (p *Publisher) message(e outbox.Event) (*nats.Msg, error) {
	ce := events.FromOutbox(e, p.o.Source)
	b, err := json.Marshal(ce)
	if err != nil {
		return nil, fmt.Errorf("events: encode %s: %w", e.ID, err)
	}
	msg := nats.NewMsg(Subject(p.o.Stream.SubjectPrefix, ce))
	msg.Header.Set("Content-Type", ContentType)
	if ce.TraceParent != "" {
		// Also as headers, for consumers that trace without reading the body.
		msg.Header.Set("traceparent", ce.TraceParent)
		if ce.TraceState != "" {
			msg.Header.Set("tracestate", ce.TraceState)
		}
	}
	msg.Data = b
	return msg, nil
}

// Connected reports whether the connection to NATS is up.
func (p *Publisher) Connected() bool { return p.nc.IsConnected() }

var _ outbox.Publisher = (*Publisher)(nil)
