package outbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/platform/outbox"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// writeEvent commits one outbox event through st; with quiet, on
// PostgreSQL, the work trigger does not fire (session_replication_role
// replica), as if its notification were lost.
func writeEvent(t *testing.T, st *store.Store, id string, quiet bool) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	err := st.Tx(t.Context(), func(tx *gorm.DB) error {
		if quiet {
			if err := tx.Exec("SET LOCAL session_replication_role = replica").Error; err != nil {
				return err
			}
		}
		return tx.Create(&store.OutboxEvent{ID: id, Topic: "order.placed", AggregateID: "o-" + id, Payload: `{}`, CreatedAt: now}).Error
	})
	if err != nil {
		t.Fatal(err)
	}
}

// runRelay runs a relay on st whose polling alone would not find an event
// within the test's deadline, and returns the ids it delivers.
func runRelay(t *testing.T, st *store.Store, o outbox.Options) <-chan string {
	t.Helper()
	got := make(chan string, 100)
	relay := outbox.New(st, o)
	relay.Subscribe("all", "", func(_ context.Context, e outbox.Event) error { got <- e.ID; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { relay.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return got
}

func expectEvent(t *testing.T, got <-chan string, id string, within time.Duration) {
	t.Helper()
	select {
	case e := <-got:
		if e != id {
			t.Fatalf("delivered %s, want %s", e, id)
		}
	case <-time.After(within):
		t.Fatalf("%s was not delivered within %s", id, within)
	}
}

// An idle relay is woken by the commit of an event: on every database by
// a commit of its own process, on PostgreSQL also by another process's
// (another Store on the database, as another server would be), with an
// interval and a safety poll far longer than the test's deadline, so that
// only the wake can explain the delivery.
func TestAnIdleRelayWakesForACommittedEvent(t *testing.T) {
	t.Parallel()
	const never, deadline = time.Hour, 30 * time.Second
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		dsn := storetest.NewDatabase(t, dialect)
		open := func() *store.Store { return storetest.OpenOn(t, dsn, store.WithSafetyPoll(never)) }
		a := open()
		if err := a.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		writers := map[string]*store.Store{"this process": a}
		if dialect == store.Postgres {
			writers["another process"] = open()
		}
		for _, lease := range []time.Duration{0, time.Hour} {
			for who, w := range writers {
				t.Run(fmt.Sprintf("lease %s, written by %s", lease, who), func(t *testing.T) {
					id := fmt.Sprintf("%d-%s", lease, who)
					// A relay of its own: after its first pass (at once,
					// finding nothing) it waits an hour for a wake.
					got := runRelay(t, a, outbox.Options{Interval: never, MaxBackoff: never, Lease: lease, LeaseName: id})
					time.Sleep(time.Second)
					writeEvent(t, w, id, false)
					expectEvent(t, got, id, deadline)
				})
			}
		}
	})
}

// On PostgreSQL an event whose notification was lost is still delivered,
// by the safety poll.
func TestARelayFindsAnEventWhoseNotificationWasLost(t *testing.T) {
	t.Parallel()
	dsn := storetest.NewDatabase(t, store.Postgres)
	a, b := storetest.OpenOn(t, dsn, store.WithSafetyPoll(500*time.Millisecond)), storetest.OpenOn(t, dsn)
	if err := a.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := runRelay(t, a, outbox.Options{Interval: 50 * time.Millisecond})
	time.Sleep(2 * time.Second) // idle, waiting at most the safety poll
	writeEvent(t, b, "quiet", true)
	expectEvent(t, got, "quiet", 60*time.Second)
}
