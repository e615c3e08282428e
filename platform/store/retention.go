package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Retention says how long the store keeps what only serves for a while.
type Retention struct {
	// Idempotency is how long an idempotency record is kept after it was
	// last written (claimed, renewed or completed): a retry with its key
	// later than that runs as a new request. Zero keeps records forever.
	Idempotency time.Duration
	// Outbox is how long a delivered outbox event is kept after its
	// delivery; undelivered events are never deleted. Zero keeps them.
	Outbox time.Duration
	// Batch is the most rows one DELETE removes (default 500), Pause the
	// wait between two batches (default 50 ms), so that a large backlog is
	// worked off without holding locks or the SQLite writer for long.
	Batch int
	Pause time.Duration
}

// Purged counts what one Purge deleted.
type Purged struct {
	Idempotency, Events int
}

// Purge deletes the idempotency records and delivered outbox events older
// than r says, in batches: each batch selects up to r.Batch primary keys
// by an indexed condition (updated_at, delivered_at) without locking, then
// deletes those rows by key, checking the condition again. No statement
// scans or locks a range of the table (on MySQL, no gap locks), and orders
// being placed meanwhile never wait on more than one batch. It returns
// when nothing older is left or ctx ends.
func (s *Store) Purge(ctx context.Context, r Retention) (Purged, error) {
	if r.Batch <= 0 {
		r.Batch = 500
	}
	if r.Pause <= 0 {
		r.Pause = 50 * time.Millisecond
	}
	var done Purged
	now := s.now()
	type sweep struct {
		keep  time.Duration
		count *int
		batch func(ctx context.Context, before time.Time, n int) (int, error)
	}
	for _, sw := range []sweep{{r.Idempotency, &done.Idempotency, s.purgeIdempotency}, {r.Outbox, &done.Events, s.purgeDelivered}} {
		if sw.keep <= 0 {
			continue
		}
		before := now.Add(-sw.keep)
		for {
			n, err := sw.batch(ctx, before, r.Batch)
			*sw.count += n
			if err != nil {
				return done, fmt.Errorf("store: purge: %w", unavailable(err))
			}
			if n < r.Batch {
				break
			}
			select {
			case <-ctx.Done():
				return done, ctx.Err()
			case <-time.After(r.Pause):
			}
		}
	}
	return done, nil
}

// purgeIdempotency deletes up to n records last written before before.
func (s *Store) purgeIdempotency(ctx context.Context, before time.Time, n int) (int, error) {
	var keys []struct{ Principal, IdemKey string }
	db := s.db.WithContext(ctx)
	if err := db.Raw("SELECT principal, idem_key FROM tmf_idempotency_records WHERE updated_at < ? ORDER BY updated_at LIMIT ?",
		before, n).Scan(&keys).Error; err != nil {
		return 0, fmt.Errorf("idempotency records before %s: %w", before.Format(time.RFC3339), err)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	args := make([]any, 0, 2*len(keys)+1)
	args = append(args, before)
	for _, k := range keys {
		args = append(args, k.Principal, k.IdemKey)
	}
	tuples := strings.TrimSuffix(strings.Repeat("(?, ?), ", len(keys)), ", ")
	res := db.Exec("DELETE FROM tmf_idempotency_records WHERE updated_at < ? AND (principal, idem_key) IN ("+tuples+")", args...)
	if res.Error != nil {
		return 0, fmt.Errorf("delete %d idempotency records: %w", len(keys), res.Error)
	}
	// A batch is full when the select was, even if a record was renewed
	// or completed meanwhile and so kept.
	return len(keys), nil
}

// purgeDelivered deletes up to n outbox events delivered before before.
func (s *Store) purgeDelivered(ctx context.Context, before time.Time, n int) (int, error) {
	var ids []string
	db := s.db.WithContext(ctx)
	if err := db.Raw("SELECT id FROM tmf_outbox_events WHERE delivered_at < ? ORDER BY delivered_at LIMIT ?",
		before, n).Scan(&ids).Error; err != nil {
		return 0, fmt.Errorf("events delivered before %s: %w", before.Format(time.RFC3339), err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if err := db.Exec("DELETE FROM tmf_outbox_events WHERE id IN ? AND delivered_at < ?", ids, before).Error; err != nil {
		return 0, fmt.Errorf("delete %d delivered events: %w", len(ids), err)
	}
	return len(ids), nil
}
