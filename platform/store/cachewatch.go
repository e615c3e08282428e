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

// watchChanges starts following changes: LISTEN on PostgreSQL (dsn), a
// poll of the versions elsewhere.
func (s *Store) watchChanges(dsn string) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{cancel: cancel}
	if s.dialect == Postgres {
		w.done.Go(func() { s.listenChanges(ctx, dsn) })
	} else {
		w.done.Go(func() { s.pollChanges(ctx, CachePollInterval) })
	}
	return w
}

// listenChanges follows tmf_changes on a connection of its own, forever
// reconnecting; the tracker follows only while it listens.
func (s *Store) listenChanges(ctx context.Context, dsn string) {
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+changes.Channel); err == nil {
				s.changes.SetFollowing(true)
				for {
					n, werr := conn.WaitForNotification(ctx)
					if werr != nil {
						break
					}
					s.changes.Notified(changes.ParsePayload(n.Payload))
				}
			}
			s.changes.SetFollowing(false)
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(cctx)
			cancel()
		}
		select {
		case <-ctx.Done():
		case <-time.After(cacheRetry):
		}
	}
	s.changes.SetFollowing(false)
}

// pollChanges reads the versions every period; the tracker follows while
// the reads succeed.
func (s *Store) pollChanges(ctx context.Context, period time.Duration) {
	var seen map[string]int64 // nil until a first read succeeded
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if err := s.readVersions(ctx, &seen); err != nil {
			s.changes.SetFollowing(false)
		} else if !s.changes.Following() {
			s.changes.SetFollowing(true)
		}
		select {
		case <-ctx.Done():
			s.changes.SetFollowing(false)
			return
		case <-t.C:
		}
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
