package cdc

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tmf-platform/tmf/platform/events"
)

// Defaults of Config.
const (
	DefaultSlot          = "tmf_cdc"
	DefaultPublication   = "tmf_cdc"
	DefaultStream        = "TMF_EVENTS"
	DefaultSubjectPrefix = "tmf.events"
	DefaultMaxInFlight   = 1024
)

// Config of a listener.
type Config struct {
	// DSN is the postgres:// URL of the database holding tmf_orders (its
	// search_path, if any, must find the table). The role needs the
	// REPLICATION attribute.
	DSN string
	// Slot and Publication made by Setup (DefaultSlot, DefaultPublication).
	Slot, Publication string
	// NATSURL is the NATS server, e.g. nats://127.0.0.1:4222.
	NATSURL string
	// Stream is the JetStream stream (DefaultStream); when missing it is
	// created with StreamSubjects (default SubjectPrefix + ".>"), file
	// storage and JetStream's default duplicate window (2 minutes). An
	// existing stream is used as it is.
	Stream         string
	StreamSubjects []string
	// SubjectPrefix replaces "tmf.events" in the subjects
	// tmf.events.order.changed.<bizCode> (DefaultSubjectPrefix).
	SubjectPrefix string
	// Source is the CloudEvents source (events.DefaultSource).
	Source string
	// MaxInFlight bounds the changes published and not yet acknowledged
	// (DefaultMaxInFlight): the sliding window.
	MaxInFlight int
	// StatusInterval is how often the confirmed position is sent to the
	// server, the lock's connection checked and the slot lag measured
	// (default 1s). LockPoll is how often a standby tries the lock
	// (default 1s); Retry the pause before a failed session is started
	// again (default 1s).
	StatusInterval, LockPoll, Retry time.Duration
	// Logger (slog.Default() when nil) and Metrics (none when nil).
	Logger  *slog.Logger
	Metrics *Metrics
}

// Listener reads the order table's changes from a replication slot and
// publishes them to JetStream. Several listeners on one slot form a hot
// standby group: one holds a PostgreSQL advisory lock (a session lock on a
// normal connection, released by the server when that session dies, a
// SIGKILL included) and reads the slot; the others poll the lock. A
// listener that takes over starts from the slot's confirmed position, so
// changes published but not yet confirmed by the one before are published
// again, with the same ids: duplicates, never gaps.
type Listener struct {
	cfg     Config
	log     *slog.Logger
	m       *Metrics
	lockKey int64
}

// New checks cfg and fills in its defaults; it connects to nothing.
func New(cfg Config) (*Listener, error) {
	cfg.Slot = cmp.Or(cfg.Slot, DefaultSlot)
	cfg.Publication = cmp.Or(cfg.Publication, DefaultPublication)
	cfg.Stream = cmp.Or(cfg.Stream, DefaultStream)
	cfg.SubjectPrefix = strings.TrimSuffix(cmp.Or(cfg.SubjectPrefix, DefaultSubjectPrefix), ".")
	if len(cfg.StreamSubjects) == 0 {
		cfg.StreamSubjects = []string{cfg.SubjectPrefix + ".>"}
	}
	cfg.MaxInFlight = cmp.Or(cfg.MaxInFlight, DefaultMaxInFlight)
	cfg.StatusInterval = cmp.Or(cfg.StatusInterval, time.Second)
	cfg.LockPoll = cmp.Or(cfg.LockPoll, time.Second)
	cfg.Retry = cmp.Or(cfg.Retry, time.Second)
	switch {
	case !strings.HasPrefix(cfg.DSN, "postgres://") && !strings.HasPrefix(cfg.DSN, "postgresql://"):
		return nil, errors.New("cdc: the database must be PostgreSQL (postgres://…); MariaDB and SQLite keep the outbox relay only")
	case cfg.NATSURL == "":
		return nil, errors.New("cdc: no NATS server (nats://host:4222)")
	case cfg.MaxInFlight < 1:
		return nil, errors.New("cdc: MaxInFlight must be at least 1")
	case cfg.StatusInterval < 0 || cfg.LockPoll < 0 || cfg.Retry < 0:
		return nil, errors.New("cdc: intervals cannot be negative")
	}
	if err := checkNames(cfg.Slot, cfg.Publication); err != nil {
		return nil, err
	}
	if _, err := pgconn.ParseConfig(cfg.DSN); err != nil {
		return nil, fmt.Errorf("cdc: database DSN: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte("tmf.cdc/" + cfg.Slot))
	l := &Listener{cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default()), m: cfg.Metrics, lockKey: int64(h.Sum64())}
	if l.m == nil {
		l.m = NewMetrics(nil)
	}
	return l, nil
}

// Run waits for the lock, then reads the slot and publishes, until ctx is
// done (nil) or the server's wal_level is not logical (ErrNotLogical).
// Every other failure (database or NATS down, the slot still held by a
// walsender of a listener that died, the lock's connection lost) is logged
// and retried after Config.Retry; nothing is confirmed that JetStream did
// not acknowledge.
func (l *Listener) Run(ctx context.Context) error {
	for {
		err := l.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrNotLogical) {
			return err
		}
		l.log.Warn("cdc: listener restarts", "err", err)
		if !sleep(ctx, l.cfg.Retry) {
			return nil
		}
	}
}

// errLockLost ends the active period: the lock's session is gone, so
// another listener may hold the lock now.
var errLockLost = errors.New("cdc: the connection holding the lock is lost")

func (l *Listener) runOnce(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, l.cfg.DSN)
	if err != nil {
		return fmt.Errorf("cdc: connect: %w", err)
	}
	defer conn.Close(context.Background())
	level, err := WALLevel(ctx, conn)
	if err != nil {
		return err
	}
	if level != "logical" {
		return ErrNotLogical
	}
	l.log.Info("cdc: standby, waiting for the lock", "slot", l.cfg.Slot)
	for {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", l.lockKey).Scan(&got); err != nil {
			return fmt.Errorf("cdc: try lock: %w", err)
		}
		if got {
			break
		}
		l.measureLag(ctx, conn)
		if !sleep(ctx, l.cfg.LockPoll) {
			return ctx.Err()
		}
	}
	l.log.Info("cdc: active", "slot", l.cfg.Slot, "publication", l.cfg.Publication, "stream", l.cfg.Stream)
	l.m.Active.Set(1)
	defer l.m.Active.Set(0)
	for {
		err := l.session(ctx, conn)
		if ctx.Err() != nil || errors.Is(err, errLockLost) {
			return err
		}
		l.log.Warn("cdc: replication session ended", "err", err)
		if !sleep(ctx, l.cfg.Retry) {
			return ctx.Err()
		}
		if err := conn.Ping(ctx); err != nil {
			return errLockLost
		}
	}
}

func (l *Listener) measureLag(ctx context.Context, conn *pgx.Conn) {
	if lag, ok, err := SlotLag(ctx, conn, l.cfg.Slot); err == nil && ok {
		l.m.SlotLagBytes.Set(float64(lag))
	}
}

// pending is one entry of the sliding window, in stream order: a publish
// to wait for, then (end != 0) a position that is confirmed once it and
// every entry before it are acknowledged.
type pending struct {
	ack    jetstream.PubAckFuture
	end    pglogrepl.LSN
	commit time.Time
}

// session is one replication connection: from the slot's confirmed
// position until an error, ctx's end or the lock's loss.
func (l *Listener) session(ctx context.Context, lockConn *pgx.Conn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nc, err := nats.Connect(l.cfg.NATSURL, nats.Name("tmfd-cdc"))
	if err != nil {
		return fmt.Errorf("cdc: connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(l.cfg.MaxInFlight),
		jetstream.WithPublishAsyncTimeout(30*time.Second))
	if err != nil {
		return fmt.Errorf("cdc: JetStream: %w", err)
	}
	if err := l.ensureStream(ctx, js); err != nil {
		return err
	}
	rcfg, err := pgconn.ParseConfig(l.cfg.DSN)
	if err != nil {
		return fmt.Errorf("cdc: database DSN: %w", err)
	}
	rcfg.RuntimeParams["replication"] = "database"
	repl, err := pgconn.ConnectConfig(ctx, rcfg)
	if err != nil {
		return fmt.Errorf("cdc: replication connection: %w", err)
	}
	defer repl.Close(context.Background())
	// Start position 0: the server starts from the slot's confirmed one.
	if err := pglogrepl.StartReplication(ctx, repl, l.cfg.Slot, 0, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + l.cfg.Publication + "'"},
	}); err != nil {
		return fmt.Errorf("cdc: start replication from slot %s: %w", l.cfg.Slot, err)
	}
	l.m.Sessions.Inc()
	l.log.Info("cdc: reading the slot", "slot", l.cfg.Slot)

	window := make(chan pending, l.cfg.MaxInFlight)
	ackErr := make(chan error, 1)
	var confirmed atomic.Uint64
	var enqueued, processed atomic.Int64
	// The acker outlives ctx by the drain at a stop: it has a context of
	// its own.
	ackCtx, ackCancel := context.WithCancel(context.Background())
	ackerDone := make(chan struct{})
	defer func() { ackCancel(); <-ackerDone }()
	go func() {
		defer close(ackerDone)
		for {
			var p pending
			select {
			case <-ackCtx.Done():
				return
			case p = <-window:
			}
			if p.ack != nil {
				select {
				case a := <-p.ack.Ok():
					l.m.Published.Inc()
					if a != nil && a.Duplicate {
						l.m.Duplicates.Inc()
					}
				case err := <-p.ack.Err():
					ackErr <- fmt.Errorf("cdc: publish %s: %w", p.ack.Msg().Header.Get(jetstream.MsgIDHeader), err)
					return
				case <-ackCtx.Done():
					return
				}
			}
			if p.end != 0 {
				confirmed.Store(uint64(p.end))
				if !p.commit.IsZero() {
					l.m.LagSeconds.Set(time.Since(p.commit).Seconds())
				}
			}
			processed.Add(1)
		}
	}()
	enqueue := func(p pending) error {
		select {
		case window <- p:
			enqueued.Add(1)
			return nil
		case err := <-ackErr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	dec := NewDecoder()
	var tx txChanges
	var nextStatus time.Time
	var queuedEnd pglogrepl.LSN
	for {
		if ctx.Err() != nil {
			// A stop: wait a little for the acknowledgements in flight and
			// confirm them, so that the next listener publishes less again.
			deadline := time.Now().Add(5 * time.Second)
			for processed.Load() < enqueued.Load() && len(ackErr) == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			c := pglogrepl.LSN(confirmed.Load())
			_ = pglogrepl.SendStandbyStatusUpdate(context.Background(), repl, pglogrepl.StandbyStatusUpdate{
				WALWritePosition: c, WALFlushPosition: c, WALApplyPosition: c})
			return ctx.Err()
		}
		if !time.Now().Before(nextStatus) {
			c := pglogrepl.LSN(confirmed.Load())
			if err := pglogrepl.SendStandbyStatusUpdate(ctx, repl, pglogrepl.StandbyStatusUpdate{
				WALWritePosition: c, WALFlushPosition: c, WALApplyPosition: c}); err != nil {
				return fmt.Errorf("cdc: confirm %s: %w", c, err)
			}
			if err := lockConn.Ping(ctx); err != nil {
				return errLockLost
			}
			l.measureLag(ctx, lockConn)
			nextStatus = time.Now().Add(l.cfg.StatusInterval)
		}
		select {
		case err := <-ackErr:
			return err
		default:
		}
		// Not ctx: a stop must not break the connection before the last
		// confirmation; it is noticed within StatusInterval.
		rctx, rcancel := context.WithDeadline(context.Background(), nextStatus)
		raw, err := repl.ReceiveMessage(rctx)
		rcancel()
		if err != nil {
			if pgconn.Timeout(err) {
				continue
			}
			return fmt.Errorf("cdc: receive: %w", err)
		}
		var data []byte
		switch m := raw.(type) {
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("cdc: replication: %w", pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyData:
			data = m.Data
		default:
			continue
		}
		if len(data) == 0 {
			continue
		}
		switch data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
			if err != nil {
				return fmt.Errorf("cdc: keepalive: %w", err)
			}
			if ka.ReplyRequested {
				nextStatus = time.Time{}
			}
			// Everything up to ServerWALEnd has been sent to us: with no
			// transaction open, the slot may advance there once the
			// publishes before it are acknowledged (WAL of other tables
			// would otherwise pile up behind a quiet order table).
			if !dec.InTransaction() && ka.ServerWALEnd > queuedEnd {
				queuedEnd = ka.ServerWALEnd
				if err := enqueue(pending{end: ka.ServerWALEnd}); err != nil {
					return err
				}
			}
		case pglogrepl.XLogDataByteID:
			x, err := pglogrepl.ParseXLogData(data[1:])
			if err != nil {
				return fmt.Errorf("cdc: xlogdata: %w", err)
			}
			change, commit, err := dec.Decode(x.WALData)
			if err != nil {
				return err
			}
			if change != nil {
				tx.add(*change)
			}
			if commit != nil {
				// The transaction's order changes go out at its commit,
				// when its outbox rows have told their trace context.
				for _, c := range tx.flush() {
					ack, err := l.publish(js, c)
					if err != nil {
						return err
					}
					if err := enqueue(pending{ack: ack}); err != nil {
						return err
					}
				}
			}
			if commit != nil && commit.EndLSN > queuedEnd {
				queuedEnd = commit.EndLSN
				if err := enqueue(pending{end: commit.EndLSN, commit: commit.Time}); err != nil {
					return err
				}
			}
		}
	}
}

// publish sends one change asynchronously with its event id as Nats-Msg-Id.
func (l *Listener) publish(js jetstream.JetStream, c Change) (jetstream.PubAckFuture, error) {
	ev, err := c.Event(l.cfg.Source)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("cdc: encode event %s: %w", ev.ID, err)
	}
	subj := events.SubjectWith(l.cfg.SubjectPrefix, ev)
	msg := nats.NewMsg(subj)
	msg.Data = body
	msg.Header.Set("Content-Type", "application/cloudevents+json")
	if ev.TraceParent != "" {
		// Also as headers, as the outbox relay sends them.
		msg.Header.Set("traceparent", ev.TraceParent)
		if ev.TraceState != "" {
			msg.Header.Set("tracestate", ev.TraceState)
		}
	}
	ack, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(ev.ID), jetstream.WithStallWait(30*time.Second))
	if err != nil {
		return nil, fmt.Errorf("cdc: publish %s: %w", ev.ID, err)
	}
	return ack, nil
}

// ensureStream creates the stream when it is missing.
func (l *Listener) ensureStream(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.Stream(ctx, l.cfg.Stream)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("cdc: look up stream %s: %w", l.cfg.Stream, err)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: l.cfg.Stream, Subjects: l.cfg.StreamSubjects, Storage: jetstream.FileStorage})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("cdc: create stream %s: %w", l.cfg.Stream, err)
	}
	return nil
}

// sleep waits d or until ctx is done; false when ctx is done.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
