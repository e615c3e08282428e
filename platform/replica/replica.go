package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tmf-platform/tmf/platform/periodic"
	"github.com/tmf-platform/tmf/platform/store"
)

// Defaults of Options.
const (
	DefaultMaxLag       = 2 * time.Second
	DefaultPoll         = 250 * time.Millisecond
	DefaultCheckTimeout = 500 * time.Millisecond
)

// Level says where a read was answered.
type Level string

// Levels of Read.
const (
	LevelReplica Level = "replica"
	LevelPrimary Level = "primary"
)

// Why a read went where it went (the reason label of the reads metric).
const (
	ReasonOK            = "ok"               // a replica answered
	ReasonDown          = "down"             // no replica answers
	ReasonLag           = "lag"              // every replica that answers lags more than MaxLag
	ReasonReadYourWrite = "read_your_writes" // no replica has replayed the reader's last write
	ReasonMarkUnread    = "mark_unreadable"  // the reader's marker could not be read
	ReasonReplicaFailed = "replica_failed"   // the replica failed the read; the primary answered it again
)

// Options tune a Set; zero values take the defaults.
type Options struct {
	// MaxLag: a replica further behind the primary is not used.
	MaxLag time.Duration
	// Poll is how often positions are read (and the bound of the lag's
	// error).
	Poll time.Duration
	// CheckTimeout bounds one position or marker query, so that a slow
	// replica or primary costs a read at most this much before the primary
	// answers it.
	CheckTimeout time.Duration
	// MaxOpenConns is each replica's connection pool (default 16).
	MaxOpenConns int
	Logger       *slog.Logger
	// Now replaces time.Now (tests).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.MaxLag <= 0 {
		o.MaxLag = DefaultMaxLag
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = DefaultCheckTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Set is the replicas of one order database (one shard). It is safe for
// concurrent use.
type Set struct {
	primary *store.Store
	nodes   []*node
	opt     Options
	met     *Metrics
	next    atomic.Uint64 // round robin over usable replicas

	mu      sync.Mutex
	samples []sample // the primary's flush position over time, oldest first
}

// sample is the primary's WAL flush position at a time.
type sample struct {
	at  time.Time
	lsn LSN
}

// node is one replica and what its last poll found.
type node struct {
	name string
	st   *store.Store

	mu     sync.Mutex
	polled bool // at least once: the first state is logged
	up     bool
	replay LSN
	lag    time.Duration
}

// Status is a replica's state as of its last poll.
type Status struct {
	Name   string        `json:"name"`
	Up     bool          `json:"up"`
	Replay string        `json:"replayLsn"`
	Lag    time.Duration `json:"lag"`
}

// ErrUnsupported: replicas of a database other than PostgreSQL.
var ErrUnsupported = errors.New("replica: read replicas are supported on PostgreSQL only")

// Open connects to the replicas (postgres:// DSNs of hot standbys of
// primary's database) and creates the marker table on primary if it is
// missing. A replica that is down is not an error: it is not used until a
// poll finds it up. Open polls once; Run keeps polling.
func Open(ctx context.Context, primary *store.Store, dsns []string, opts Options) (*Set, error) {
	if primary.Dialect() != store.Postgres {
		return nil, fmt.Errorf("%w: the order database is %s", ErrUnsupported, primary.Dialect())
	}
	if len(dsns) == 0 {
		return nil, errors.New("replica: no replica DSN")
	}
	s := &Set{primary: primary, opt: opts.withDefaults(), met: NewMetrics()}
	for _, dsn := range dsns {
		if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
			s.Close()
			return nil, fmt.Errorf("%w: replica %q is not a postgres:// URL", ErrUnsupported, Name(dsn))
		}
		st, err := store.Open(ctx, dsn, store.AsReplica(), store.WithMaxOpenConns(s.opt.MaxOpenConns))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("replica %s: %w", Name(dsn), err)
		}
		s.nodes = append(s.nodes, &node{name: Name(dsn), st: st})
	}
	if err := primary.MigrateModels(ctx, &readMark{}); err != nil {
		s.Close()
		return nil, fmt.Errorf("replica: %w", err)
	}
	s.Poll(ctx)
	return s, nil
}

// Name is a replica's name in logs and metrics: host, port and database of
// its DSN, never its credentials.
func Name(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		return "replica"
	}
	return u.Host + u.Path
}

// Close closes the replicas' connection pools.
func (s *Set) Close() {
	for _, n := range s.nodes {
		_ = n.st.Close()
	}
}

// Metrics are the set's metrics, to register (Metrics.Register).
func (s *Set) Metrics() *Metrics { return s.met }

// MaxLag is the lag bound in force.
func (s *Set) MaxLag() time.Duration { return s.opt.MaxLag }

// Run polls every Options.Poll until ctx is done.
func (s *Set) Run(ctx context.Context) {
	periodic.Run(ctx, s.opt.Poll, s.opt.Logger, "replica poll", func(ctx context.Context) error {
		s.Poll(ctx)
		return nil
	})
}

// Poll reads the primary's flush position and every replica's replay
// position once, and updates their lag and the metrics.
func (s *Set) Poll(ctx context.Context) {
	var flushed string
	if err := s.query(ctx, s.primary, "SELECT pg_current_wal_flush_lsn()::text", &flushed); err == nil {
		if lsn, err := ParseLSN(flushed); err == nil {
			s.addSample(sample{at: s.opt.Now(), lsn: lsn})
		}
	} else {
		s.opt.Logger.WarnContext(ctx, "replica: the primary's WAL position is unreadable; replica lag keeps growing until it answers", "error", err)
	}
	for _, n := range s.nodes {
		s.pollNode(ctx, n)
	}
}

// addSample records a primary position and forgets those older than the
// lag window needs.
func (s *Set) addSample(sm sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples = append(s.samples, sm)
	keep := sm.at.Add(-(s.opt.MaxLag + 4*s.opt.Poll))
	i := 0
	for i < len(s.samples)-1 && s.samples[i+1].at.Before(keep) {
		i++
	}
	s.samples = s.samples[i:]
}

// lagOf is how far behind a replica at replay is, at now: zero when it has
// the primary's last sampled position, else the time since the newest
// sample it has replayed (an upper bound on its lag); when it has replayed
// none of the kept samples, at least the whole window.
func (s *Set) lagOf(replay LSN, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return 0 // nothing known of the primary yet: MaxLag alone cannot judge
	}
	if replay >= s.samples[len(s.samples)-1].lsn {
		return 0
	}
	for i := len(s.samples) - 1; i >= 0; i-- {
		if s.samples[i].lsn <= replay {
			return now.Sub(s.samples[i].at)
		}
	}
	return max(now.Sub(s.samples[0].at), s.opt.MaxLag+s.opt.Poll)
}

func (s *Set) pollNode(ctx context.Context, n *node) {
	var row struct {
		InRecovery bool
		Replay     sql.NullString
	}
	err := s.withTimeout(ctx, func(ctx context.Context) error {
		return n.st.DB(ctx).Raw("SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS replay").Scan(&row).Error
	})
	var replay LSN
	if err == nil && (!row.InRecovery || !row.Replay.Valid) {
		err = errors.New("not a hot standby (not in recovery, or no replay position)")
	}
	if err == nil {
		replay, err = ParseLSN(row.Replay.String)
	}
	n.mu.Lock()
	wasUp, first := n.up, !n.polled
	n.polled = true
	if err != nil {
		n.up = false
	} else {
		n.up, n.replay, n.lag = true, replay, s.lagOf(replay, s.opt.Now())
	}
	up, lag := n.up, n.lag
	n.mu.Unlock()
	if err != nil && (wasUp || first) {
		s.opt.Logger.WarnContext(ctx, "replica: down; the primary answers its reads", "replica", n.name, "error", err)
	}
	if err == nil && !wasUp {
		s.opt.Logger.InfoContext(ctx, "replica: up", "replica", n.name, "lag", lag.String())
	}
	s.met.observe(n.name, up, lag)
}

// Statuses are the replicas' states as of their last poll.
func (s *Set) Statuses() []Status {
	out := make([]Status, 0, len(s.nodes))
	for _, n := range s.nodes {
		n.mu.Lock()
		out = append(out, Status{Name: n.name, Up: n.up, Replay: n.replay.String(), Lag: n.lag})
		n.mu.Unlock()
	}
	return out
}

// Read runs read once, with a context that sends the store's lag-tolerant
// reads to a replica (store.ReadFrom) when one is usable and has replayed
// everything principal must see: its marker (MarkWrite) and token, the
// consistency token the client sent ("" none). Otherwise, or when the
// replica fails the read, read runs (again) with ctx, on the primary. It
// returns the level that answered and read's error. principal "" reads
// with the token alone.
func (s *Set) Read(ctx context.Context, principal, token string, read func(ctx context.Context) error) (Level, error) {
	need := ParseToken(token)
	n, reason := (*node)(nil), ReasonMarkUnread
	if mark, err := s.markOf(ctx, principal); err == nil {
		n, reason = s.pick(ctx, max(need, mark))
	} else if ctx.Err() == nil {
		s.opt.Logger.WarnContext(ctx, "replica: the reader's write marker is unreadable; the primary answers", "principal", principal, "error", err)
	}
	if n != nil {
		err := read(store.ReadFrom(ctx, n.st))
		if err == nil || ctx.Err() != nil {
			s.met.read(LevelReplica, ReasonOK)
			return LevelReplica, err
		}
		if store.IsUnavailable(err) {
			n.mu.Lock()
			n.up = false // until the next poll finds it up
			n.mu.Unlock()
		}
		s.opt.Logger.WarnContext(ctx, "replica: a read failed on the replica; the primary answers it", "replica", n.name, "error", err)
		reason = ReasonReplicaFailed
	}
	s.met.read(LevelPrimary, reason)
	return LevelPrimary, read(ctx)
}

// pick chooses a usable replica that has replayed need, round robin, or
// says why there is none. A replica whose last polled position is short of
// need is asked again once: the poll may be older than the write.
func (s *Set) pick(ctx context.Context, need LSN) (*node, string) {
	usable := make([]*node, 0, len(s.nodes))
	reason := ReasonDown
	for _, n := range s.nodes {
		n.mu.Lock()
		up, lag := n.up, n.lag
		n.mu.Unlock()
		switch {
		case !up:
		case lag > s.opt.MaxLag:
			reason = ReasonLag
		default:
			usable = append(usable, n)
		}
	}
	if len(usable) == 0 {
		return nil, reason
	}
	first := int(s.next.Add(1) % uint64(len(usable)))
	for i := range usable {
		n := usable[(first+i)%len(usable)]
		n.mu.Lock()
		replay := n.replay
		n.mu.Unlock()
		if replay >= need {
			return n, ReasonOK
		}
	}
	n := usable[first]
	var now string
	if err := s.query(ctx, n.st, "SELECT pg_last_wal_replay_lsn()::text", &now); err == nil {
		if replay, err := ParseLSN(now); err == nil {
			n.mu.Lock()
			n.replay = max(n.replay, replay)
			n.mu.Unlock()
			if replay >= need {
				return n, ReasonOK
			}
		}
	}
	return nil, ReasonReadYourWrite
}

// query scans one text value of stmt on st, within CheckTimeout.
func (s *Set) query(ctx context.Context, st *store.Store, stmt string, into *string) error {
	return s.withTimeout(ctx, func(ctx context.Context) error {
		var v sql.NullString
		if err := st.DB(ctx).Raw(stmt).Scan(&v).Error; err != nil {
			return err
		}
		if !v.Valid {
			return fmt.Errorf("%s: NULL", stmt)
		}
		*into = v.String
		return nil
	})
}

func (s *Set) withTimeout(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.opt.CheckTimeout)
	defer cancel()
	return fn(ctx)
}
