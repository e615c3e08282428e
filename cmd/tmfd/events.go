package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/eventbus"
	"github.com/tmf-platform/tmf/platform/outbox"
	"github.com/tmf-platform/tmf/platform/store"
)

// eventsOptions are the settings of the outbox relay and of publishing
// events to NATS JetStream (--events and friends). A flag or TMF_<NAME>
// wins over the configuration file's "events" key, which wins over the
// defaults.
type eventsOptions struct {
	// URL of NATS, "" publishes nothing (events go to in-process
	// subscribers only).
	URL    string
	Stream eventbus.Stream
	// MaxBacklogAge makes /readyz fail while the oldest event not yet
	// relayed is older; 0 never fails.
	MaxBacklogAge time.Duration
	// Lease is how long the relay's outbox lease lasts: a killed relay's
	// events wait at most this long for another server's relay.
	Lease time.Duration
}

// eventsFile is the "events" key of the configuration file.
type eventsFile struct {
	URL           string   `json:"url,omitempty"`
	Stream        string   `json:"stream,omitempty"`
	SubjectPrefix string   `json:"subjectPrefix,omitempty"`
	MaxAge        duration `json:"maxAge,omitempty"`
	MaxBytes      int64    `json:"maxBytes,omitempty"`
	Replicas      int      `json:"replicas,omitempty"`
	Duplicates    duration `json:"duplicates,omitempty"`
	MaxBacklogAge duration `json:"maxBacklogAge,omitempty"`
	Lease         duration `json:"lease,omitempty"`
}

// duration reads "10s" from a configuration file.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("want a duration such as \"30s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("want a duration such as \"30s\", got %q", s)
	}
	*d = duration(v)
	return nil
}

// eventFlags registers the events flags on fs, their defaults from the
// environment; the returned function checks them after fs.Parse.
func eventFlags(fs *flag.FlagSet, getenv func(string) string, o *eventsOptions) func() error {
	var errs []error
	str := func(p *string, name, env, usage string) { fs.StringVar(p, name, getenv("TMF_"+env), usage) }
	dur := func(p *time.Duration, name, env, usage string) {
		var def time.Duration
		if v := getenv("TMF_" + env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				errs = append(errs, fmt.Errorf("TMF_%s=%q: want a duration such as 30s", env, v))
			}
			def = d
		}
		fs.DurationVar(p, name, def, usage)
	}
	str(&o.URL, "events", "EVENTS", "NATS URL to publish every committed event to (JetStream)")
	str(&o.Stream.Name, "events-stream", "EVENTS_STREAM", "JetStream stream of the events (default TMF_EVENTS)")
	str(&o.Stream.SubjectPrefix, "events-subject-prefix", "EVENTS_SUBJECT_PREFIX", "subject prefix of the events (default tmf.events)")
	dur(&o.Stream.MaxAge, "events-max-age", "EVENTS_MAX_AGE", "how long the stream keeps an event (default 168h)")
	dur(&o.Stream.Duplicates, "events-duplicates", "EVENTS_DUPLICATES", "the stream's duplicate window (default 2m)")
	replicas := 0
	if v := getenv("TMF_EVENTS_REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("TMF_EVENTS_REPLICAS=%q: want 1 or more", v))
		}
		replicas = n
	}
	fs.IntVar(&o.Stream.Replicas, "events-replicas", replicas, "replicas of the stream (default 1)")
	var maxAge, lease time.Duration
	dur(&maxAge, "events-max-backlog-age", "EVENTS_MAX_BACKLOG_AGE", "/readyz fails while the oldest unrelayed event is older (0: never)")
	dur(&lease, "outbox-lease", "OUTBOX_LEASE", "lease of the outbox relay among the servers on one database (default 10s)")
	return func() error {
		if len(errs) > 0 {
			return errs[0]
		}
		if o.Stream.Replicas < 0 || o.Stream.MaxAge < 0 || o.Stream.Duplicates < 0 || maxAge < 0 || lease < 0 {
			return fmt.Errorf("the events settings cannot be negative")
		}
		o.MaxBacklogAge, o.Lease = maxAge, lease
		return nil
	}
}

// merge fills what the flags left unset from the configuration file.
func (o eventsOptions) merge(f *eventsFile) eventsOptions {
	if f == nil {
		return o
	}
	or := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	ord := func(p *time.Duration, v duration) {
		if *p == 0 {
			*p = time.Duration(v)
		}
	}
	or(&o.URL, f.URL)
	or(&o.Stream.Name, f.Stream)
	or(&o.Stream.SubjectPrefix, f.SubjectPrefix)
	ord(&o.Stream.MaxAge, f.MaxAge)
	ord(&o.Stream.Duplicates, f.Duplicates)
	ord(&o.MaxBacklogAge, f.MaxBacklogAge)
	ord(&o.Lease, f.Lease)
	if o.Stream.MaxBytes == 0 {
		o.Stream.MaxBytes = f.MaxBytes
	}
	if o.Stream.Replicas == 0 {
		o.Stream.Replicas = f.Replicas
	}
	return o
}

// BacklogPoll is how often every server reads the outbox backlog for its
// metrics and readiness.
const BacklogPoll = 5 * time.Second

// eventsWiring is the relay of a server and what it publishes to.
type eventsWiring struct {
	relay   *outbox.Relay
	backlog *outbox.Backlog
	close   func()
}

// wireEvents builds the outbox relay (with the lease, and the JetStream
// publisher when --events is set) and the backlog watcher with its
// metrics.
func wireEvents(st *store.Store, o eventsOptions, reg prometheus.Registerer, log *slog.Logger) (eventsWiring, error) {
	w := eventsWiring{close: func() {}}
	lease := o.Lease
	if lease <= 0 {
		lease = outbox.DefaultLease
	}
	ro := outbox.Options{Logger: log, Lease: lease}
	if o.URL != "" {
		pub, err := eventbus.Connect(eventbus.Options{URL: o.URL, Stream: o.Stream, Logger: log})
		if err != nil {
			return w, err
		}
		ro.Publisher, ro.Batch, w.close = pub, 500, pub.Close
		// The console's event stream page (GET /v1/admin/events/status) reads it.
		if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tmf_events_nats_connected",
			Help: "1 while the connection to NATS is up, 0 while it is down (only with --events)."},
			func() float64 {
				if pub.Connected() {
					return 1
				}
				return 0
			})); err != nil {
			pub.Close()
			return w, err
		}
		// Make the stream now so that consumers can attach before the first
		// event; if NATS is down, the first publish that reaches it will.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = pub.EnsureStream(ctx)
		cancel()
		if err != nil {
			log.Warn("events: the stream could not be made yet; events wait in the outbox until NATS answers", "error", err)
		}
		log.Info("events: publishing to NATS JetStream", "url", o.URL, "stream", o.Stream.Name, "subjectPrefix", o.Stream.SubjectPrefix)
	}
	w.relay = outbox.New(st, ro)
	w.backlog = outbox.NewBacklog(st, log)
	if err := w.backlog.Register(reg); err != nil {
		w.close()
		return w, err
	}
	return w, nil
}

// run starts the relay and the backlog watcher until ctx ends.
func (w eventsWiring) run(ctx context.Context, spawn func(func())) {
	spawn(func() { w.relay.Run(ctx) })
	spawn(func() { w.backlog.Run(ctx, BacklogPoll) })
}
