package store

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tmf-platform/tmf/platform/store/changes"
)

// CachePollInterval is how often a store on SQLite or MySQL/MariaDB reads
// tmf_cache_versions for changes made by other processes: the bound on
// how long another process's cached SKUs or stock settings may lag a
// change there. On PostgreSQL changes arrive by LISTEN tmf_changes.
const CachePollInterval = 500 * time.Millisecond

// cacheRetry is how long the watcher waits before it tries again to
// listen or to read the versions after a failure (caches miss meanwhile).
const cacheRetry = 2 * time.Second

// Changes is the store's cache tracker (package changes).
func (s *Store) Changes() *changes.Tracker { return s.changes }

// watcher follows the changes of other processes into s.changes until
// stop is called.
type watcher struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func (w *watcher) stop() {
	if w == nil {
		return
	}
	w.cancel()
	w.done.Wait()
}

// watchChanges starts following changes: LISTEN on PostgreSQL (dsn, one
// connection per dsn shared by every store of the process), a poll of the
// versions elsewhere.
func (s *Store) watchChanges(dsn string) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{cancel: cancel}
	if s.dialect == Postgres {
		l := joinListener(dsn, s.changes, s.work)
		w.done.Go(func() {
			<-ctx.Done()
			l.leave(s.changes)
		})
	} else {
		// The first read is made here, so that the caches follow as soon
		// as Open returns, not whenever the poll's goroutine first runs
		// (and again after Migrate, which creates the versions' table).
		s.pollOnce(ctx)
		w.done.Go(func() { s.pollChanges(ctx, CachePollInterval) })
	}
	return w
}

// listeners holds the process's LISTEN connections by dsn: a test binary
// or a tool may open many stores on one database, and each holding a
// connection of its own would spend the server's connection slots.
var listeners = struct {
	sync.Mutex
	byDSN map[string]*listener
}{byDSN: map[string]*listener{}}

// listener is one connection listening on tmf_changes and tmf_work whose
// notifications go to every store that joined it: the changes to its
// tracker, the work topics to its wakeups.
type listener struct {
	dsn      string
	cancel   context.CancelFunc
	mu       sync.Mutex
	trackers map[*changes.Tracker]*wakeups
	follow   bool
}

// joinListener adds a store's tracker t and wakeups w to the dsn's
// listener, starting it if it is the first.
func joinListener(dsn string, t *changes.Tracker, w *wakeups) *listener {
	listeners.Lock()
	defer listeners.Unlock()
	l := listeners.byDSN[dsn]
	if l == nil {
		ctx, cancel := context.WithCancel(context.Background())
		l = &listener{dsn: dsn, cancel: cancel, trackers: map[*changes.Tracker]*wakeups{}}
		listeners.byDSN[dsn] = l
		// The first connection is made here, so that the caches follow as
		// soon as Open returns; run reconnects when it is lost.
		first := l.connect(ctx)
		go l.run(ctx, first)
	}
	l.mu.Lock()
	l.trackers[t] = w
	t.SetFollowing(l.follow)
	l.mu.Unlock()
	return l
}

// leave removes t; the last one to leave closes the connection.
func (l *listener) leave(t *changes.Tracker) {
	listeners.Lock()
	defer listeners.Unlock()
	l.mu.Lock()
	delete(l.trackers, t)
	last := len(l.trackers) == 0
	l.mu.Unlock()
	t.SetFollowing(false)
	if last {
		delete(listeners.byDSN, l.dsn)
		l.cancel()
	}
}

// each calls f for every tracker that has joined.
func (l *listener) each(f func(*changes.Tracker)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for t := range l.trackers {
		f(t)
	}
}

// wake wakes topic ("" for every topic) in every store that has joined.
func (l *listener) wake(topic string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.trackers {
		if topic == "" {
			w.wakeAll()
		} else {
			w.wake(topic)
		}
	}
}

// setFollowing records whether the connection listens and tells every
// tracker (a tracker that does not follow bypasses its caches).
func (l *listener) setFollowing(on bool) {
	l.mu.Lock()
	l.follow = on
	l.mu.Unlock()
	l.each(func(t *changes.Tracker) { t.SetFollowing(on) })
}

// connect opens a connection and listens on it, within cacheRetry; nil
// when it cannot (the caches miss until run connects).
func (l *listener) connect(ctx context.Context) *pgx.Conn {
	cctx, cancel := context.WithTimeout(ctx, cacheRetry)
	defer cancel()
	conn, err := pgx.Connect(cctx, l.dsn)
	if err != nil {
		return nil
	}
	if _, err := conn.Exec(cctx, "LISTEN "+changes.Channel+"; LISTEN "+WorkChannel); err != nil {
		closeConn(conn)
		return nil
	}
	l.setFollowing(true)
	// Work committed while nobody listened was not announced: look now.
	l.wake("")
	return conn
}

func closeConn(conn *pgx.Conn) {
	cctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = conn.Close(cctx)
	cancel()
}

// run follows tmf_changes on conn (when not nil) and then on new
// connections, forever reconnecting, until ctx ends.
func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	for ctx.Err() == nil {
		if conn == nil {
			conn = l.connect(ctx)
		}
		if conn != nil {
			for {
				n, err := conn.WaitForNotification(ctx)
				if err != nil {
					break
				}
				if n.Channel == WorkChannel {
					l.wake(n.Payload)
					continue
				}
				kind, v := changes.ParsePayload(n.Payload)
				l.each(func(t *changes.Tracker) { t.Notified(kind, v) })
			}
			l.setFollowing(false)
			closeConn(conn)
			conn = nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(cacheRetry):
		}
	}
}

// pollChanges reads the versions every period until ctx ends.
func (s *Store) pollChanges(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.changes.SetFollowing(false)
			return
		case <-t.C:
		}
		s.pollOnce(ctx)
	}
}

// pollOnce reads the versions once (on SQLite and MySQL); the tracker
// follows while the reads succeed.
func (s *Store) pollOnce(ctx context.Context) {
	if s.dialect == Postgres {
		return
	}
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	if err := s.readVersions(ctx, &s.pollSeen); err != nil {
		s.changes.SetFollowing(false)
	} else if !s.changes.Following() {
		s.changes.SetFollowing(true)
	}
}

// readVersions reads tmf_cache_versions and invalidates every kind whose
// version differs from *seen or that appeared since (*seen is nil before
// the first read: that one only records).
func (s *Store) readVersions(ctx context.Context, seenp *map[string]int64) error {
	rows, err := s.sqlDB.QueryContext(ctx, "SELECT kind, version FROM tmf_cache_versions")
	if err != nil {
		return err
	}
	defer rows.Close()
	first := *seenp == nil
	if first {
		*seenp = map[string]int64{}
	}
	seen := *seenp
	for rows.Next() {
		var (
			kind string
			v    int64
		)
		if err := rows.Scan(&kind, &v); err != nil {
			return err
		}
		old, ok := seen[kind]
		if !ok {
			old = -1
		}
		seen[kind] = v
		if !first {
			s.changes.Seen(kind, old, v)
		}
	}
	return rows.Err()
}
