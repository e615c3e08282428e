package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// The outbox's trigger notifies tmf_work for the first event committed
// after the outbox was drained and stays silent while other events wait
// (their relay is awake): a notifying commit serializes with every other.
func TestTheOutboxNotifiesOnlyWhenNothingElseWaits(t *testing.T) {
	t.Parallel()
	dsn := storetest.NewDatabase(t, store.Postgres)
	// One connection, so that its notifications can be told from those of
	// other tests' schemas in the database (NOTIFY is database-wide).
	st := storetest.OpenOn(t, dsn, store.WithMaxOpenConns(1))
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	var pid uint32
	if err := st.SQL().QueryRowContext(t.Context(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	if _, err := conn.Exec(t.Context(), "LISTEN "+store.WorkChannel); err != nil {
		t.Fatal(err)
	}
	write := func(id string) {
		t.Helper()
		if err := st.DB(t.Context()).Create(&store.OutboxEvent{ID: id, Topic: "order.placed", AggregateID: "o", Payload: `{}`,
			CreatedAt: time.Now().UTC()}).Error; err != nil {
			t.Fatal(err)
		}
	}
	notified := func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				return false
			}
			if n.PID != pid {
				continue
			}
			if n.Payload != store.WorkOutbox {
				t.Fatalf("payload %q, want %q", n.Payload, store.WorkOutbox)
			}
			return true
		}
	}
	for i, c := range []struct {
		name   string
		before func()
		want   bool
	}{
		{"into an empty outbox", func() {}, true},
		{"while an event waits", func() {}, false},
		{"after the outbox was drained", func() {
			if err := st.MarkDelivered(t.Context(), "e0", "e1"); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		c.before()
		write(fmt.Sprint("e", i))
		// A miss waits out the 3 s: long enough for a notification that
		// was sent, on a busy machine, to arrive.
		if got := notified(); got != c.want {
			t.Errorf("%s: notified %v, want %v", c.name, got, c.want)
		}
	}
}
