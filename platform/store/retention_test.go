package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Purge deletes, in batches, the idempotency records last written before
// the retention and the events delivered before theirs; it keeps newer
// records, running claims still renewed, and every undelivered event.
func TestPurge(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		clk := newClock()
		s := storetest.Open(t, dialect, store.WithClock(clk.Now))
		ctx := t.Context()
		// The batches select by an index, never by scanning the table.
		for model, index := range map[any]string{&store.IdempotencyRecord{}: "idx_tmf_idempotency_updated",
			&store.OutboxEvent{}: "idx_tmf_outbox_pending"} {
			if !s.DB(ctx).Migrator().HasIndex(model, index) {
				t.Errorf("no index %s", index)
			}
		}

		// Day 0: seven records (five done) and seven orders with an event
		// each, five of them delivered.
		var renewed store.IdempotencyRecord
		for i := range 7 {
			key := fmt.Sprintf("old-%d", i)
			rec, won, err := s.ClaimIdempotency(ctx, "alice", key, "h", 6*time.Second)
			if err != nil || !won {
				t.Fatal(won, err)
			}
			if i < 5 {
				if err := s.CompleteIdempotency(ctx, "alice", key, 201, "{}"); err != nil {
					t.Fatal(err)
				}
			}
			if i == 6 {
				renewed = rec
			}
			id := fmt.Sprintf("o-old-%d", i)
			n := newOrder(id)
			n.Events[0].ID = "e-" + id
			mustCreate(t, s, n)
			if i < 5 {
				if err := s.MarkDelivered(ctx, "e-"+id); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Day 1 and a half: one new record and one event delivered now; the
		// claim of old-6 is still renewed by its (very long) request.
		clk.Add(36 * time.Hour)
		if _, _, err := s.ClaimIdempotency(ctx, "alice", "new", "h", 6*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := s.RenewIdempotency(ctx, "alice", "old-6", renewed.Owner, 6*time.Second); err != nil {
			t.Fatal(err)
		}
		n := newOrder("o-new")
		n.Events[0].ID = "e-new"
		mustCreate(t, s, n)
		if err := s.MarkDelivered(ctx, "e-o-old-5", "e-new"); err != nil { // a late delivery of an old event
			t.Fatal(err)
		}

		got, err := s.Purge(ctx, store.Retention{Idempotency: 24 * time.Hour, Outbox: 24 * time.Hour, Batch: 2, Pause: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if got.Idempotency != 6 || got.Events != 5 {
			t.Errorf("purged %+v; want 6 idempotency records and 5 events", got)
		}
		var keys []string
		if err := s.DB(ctx).Model(&store.IdempotencyRecord{}).Order("idem_key").Pluck("idem_key", &keys).Error; err != nil {
			t.Fatal(err)
		}
		deepEqual(t, "idempotency records left", keys, []string{"new", "old-6"})
		var ids []string
		if err := s.DB(ctx).Model(&store.OutboxEvent{}).Order("id").Pluck("id", &ids).Error; err != nil {
			t.Fatal(err)
		}
		// Undelivered e-old-6 stays, however old; e-old-5 was delivered a moment ago.
		deepEqual(t, "events left", ids, []string{"e-new", "e-o-old-5", "e-o-old-6"})

		// Again: nothing older is left.
		if got, err := s.Purge(ctx, store.Retention{Idempotency: 24 * time.Hour, Outbox: 24 * time.Hour}); err != nil || got != (store.Purged{}) {
			t.Errorf("second purge = %+v, %v", got, err)
		}
	})
}
