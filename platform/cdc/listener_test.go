package cdc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/platform/cdc"
	"github.com/tmf-platform/tmf/platform/cdc/cdctest"
	"github.com/tmf-platform/tmf/platform/store"
)

// openStore opens and migrates a store on dsn.
func openStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func newOrder(id string) store.NewOrder {
	return store.NewOrder{Order: store.Order{ID: id, BizCode: "retail", BuyerID: "alice", Status: "created", Currency: "CNY",
		Subtotal: 1999, Total: 1999, Shipping: `{"city":"Hangzhou"}`,
		Lines: []store.OrderLine{{SKU: "sku-1", Quantity: 1, ListPrice: 1999, UnitPrice: 1999}}}}
}

// confirmedLSN is the slot's confirmed_flush_lsn.
func confirmedLSN(t *testing.T, conn *pgx.Conn, slot string) pglogrepl.LSN {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), "SELECT COALESCE(confirmed_flush_lsn, '0/0')::text FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&s); err != nil {
		t.Fatal(err)
	}
	lsn, err := pglogrepl.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

// run runs the listener until the test ends.
func run(t *testing.T, ctx context.Context, l *cdc.Listener) {
	t.Helper()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func currentLSN(t *testing.T, conn *pgx.Conn) pglogrepl.LSN {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&s); err != nil {
		t.Fatal(err)
	}
	lsn, err := pglogrepl.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

// A listener whose publishes JetStream refuses (no stream takes its
// subjects) confirms nothing past them and keeps retrying; once a stream
// takes them, every committed version of the order arrives, nothing of a
// rolled-back transaction does, and the slot's position moves past the
// commits.
func TestListenerConfirmsOnlyWhatJetStreamAcknowledged(t *testing.T) {
	url := cdctest.NATSURL(t)
	dsn := cdctest.Database(t)
	st := openStore(t, dsn)
	conn := cdctest.Connect(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	slot, pub := cdctest.Names(t, dsn)
	if err := cdc.Setup(ctx, conn, slot, pub); err != nil {
		t.Fatal(err)
	}
	if err := cdc.Setup(ctx, conn, slot, pub); err != nil {
		t.Fatalf("setup again: %v", err)
	}
	existing := cdctest.NewStream(t, url, true)
	target := cdctest.NewStream(t, url, false) // its stream is made later

	if err := st.CreateOrder(ctx, newOrder("o-1")); err != nil {
		t.Fatal(err)
	}
	for v := int64(1); v < 3; v++ {
		if _, err := st.TransitionOrder(ctx, store.Transition{OrderID: "o-1", ExpectVersion: v, To: fmt.Sprintf("state-%d", v+1)}); err != nil {
			t.Fatal(err)
		}
	}
	refused := newOrder("o-rolled-back")
	refused.Steps = []store.Step{func(context.Context, *gorm.DB) error { return errors.New("out of stock") }}
	if err := st.CreateOrder(ctx, refused); err == nil {
		t.Fatal("the refused order was written")
	}
	if err := st.CreateOrder(ctx, newOrder("o-2")); err != nil {
		t.Fatal(err)
	}
	committed := currentLSN(t, conn)

	m := cdc.NewMetrics(nil)
	l, err := cdc.New(cdc.Config{DSN: dsn, Slot: slot, Publication: pub, NATSURL: url, Stream: existing.Name,
		SubjectPrefix: target.SubjectPrefix, StatusInterval: 100 * time.Millisecond, Retry: 100 * time.Millisecond,
		LockPoll: 100 * time.Millisecond, Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, l)

	// Three sessions started: the first two failed on a refused publish.
	deadline := time.Now().Add(60 * time.Second)
	for testutil.ToFloat64(m.Sessions) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%v sessions after a minute", testutil.ToFloat64(m.Sessions))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := confirmedLSN(t, conn, slot); got >= committed {
		t.Fatalf("the slot confirmed %s past the refused changes (committed up to %s)", got, committed)
	}
	if testutil.ToFloat64(m.Active) != 1 {
		t.Error("the only listener is not active")
	}

	stray := cdctest.Collect(t, existing)
	if _, err := target.JS.CreateStream(ctx, jetstream.StreamConfig{Name: target.Name, Subjects: []string{target.SubjectPrefix + ".>"}}); err != nil {
		t.Fatal(err)
	}
	c := cdctest.Collect(t, target)
	got := c.WaitFor(t, 60*time.Second, "four changes", func(r []cdctest.Received) bool { return len(r) >= 4 })
	// The set, not the order: a publish refused in the middle of the window
	// is sent again after later ones were stored (tmfversion orders them).
	want := map[string]bool{"o-1/1": true, "o-1/2": true, "o-1/3": true, "o-2/1": true}
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d (JetStream drops the copies by id): %+v", len(got), len(want), got)
	}
	for i, r := range got {
		key := fmt.Sprintf("%s/%d", r.Event.Subject, r.Event.Version)
		if !want[key] {
			t.Errorf("message %d: %s again or unexpected: %+v", i, key, r)
		}
		delete(want, key)
		if r.Event.Type != cdc.EventType || r.MsgID != r.Event.ID || r.Subject != target.SubjectPrefix+".order.changed.retail" ||
			r.Event.BizCode != "retail" {
			t.Errorf("message %d: %+v", i, r)
		}
		if err := r.Event.Validate(); err != nil {
			t.Error(err)
		}
	}
	deadline = time.Now().Add(60 * time.Second)
	for confirmedLSN(t, conn, slot) < committed {
		if time.Now().After(deadline) {
			t.Fatalf("the slot's position stays at %s, before %s", confirmedLSN(t, conn, slot), committed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r, bad := stray.Received(); len(r) > 0 || len(bad) > 0 {
		t.Errorf("the stream that does not take the feed's subjects holds %d messages (%v)", len(r), bad)
	}
	if lag, ok, err := cdc.SlotLag(ctx, conn, slot); err != nil || !ok || lag < 0 {
		t.Errorf("slot lag %d %v %v", lag, ok, err)
	}
}

// The changes of an order carry the trace context of the request whose
// transaction made them, read from the outbox events of that transaction:
// the order's own event's, else any event's of the transaction, else none.
// A publication made before the feed read the outbox gets it added.
func TestListenerCarriesTheOrdersTraceparent(t *testing.T) {
	url := cdctest.NATSURL(t)
	dsn := cdctest.Database(t)
	st := openStore(t, dsn)
	conn := cdctest.Connect(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	slot, pub := cdctest.Names(t, dsn)
	// The publication of an earlier version: the order table only.
	if _, err := conn.Exec(ctx, "CREATE PUBLICATION "+pub+" FOR TABLE "+cdc.OrdersTable); err != nil {
		t.Fatal(err)
	}
	if err := cdc.Setup(ctx, conn, slot, pub); err != nil {
		t.Fatal(err)
	}
	var tables int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_publication_tables WHERE pubname = $1", pub).Scan(&tables); err != nil || tables != 2 {
		t.Fatalf("the publication has %d tables (%v), want the orders and the outbox", tables, err)
	}
	stream := cdctest.NewStream(t, url, true)
	const (
		tp1 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		tp2 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		tp3 = "00-11111111111111111111111111111111-2222222222222222-01"
	)
	event := func(aggregate, tp, ts string) store.OutboxEvent {
		return store.OutboxEvent{Topic: "order.test", AggregateID: aggregate, Payload: `{}`, Traceparent: tp, Tracestate: ts}
	}
	traced := newOrder("o-traced")
	traced.Events = []store.OutboxEvent{event("", tp1, "vendor=1")}
	if err := st.CreateOrder(ctx, traced); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TransitionOrder(ctx, store.Transition{OrderID: "o-traced", ExpectVersion: 1, To: "paid",
		Events: []store.OutboxEvent{event("", "", ""), event("o-traced", tp2, "")}}); err != nil {
		t.Fatal(err)
	}
	// Its transaction's only traced event is of another aggregate.
	other := newOrder("o-other")
	other.Events = []store.OutboxEvent{event("budget-7", tp3, "")}
	if err := st.CreateOrder(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateOrder(ctx, newOrder("o-untraced")); err != nil {
		t.Fatal(err)
	}

	l, err := cdc.New(cdc.Config{DSN: dsn, Slot: slot, Publication: pub, NATSURL: url, Stream: stream.Name,
		SubjectPrefix: stream.SubjectPrefix, StatusInterval: 100 * time.Millisecond, Retry: 100 * time.Millisecond,
		LockPoll: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, l)
	got := cdctest.Collect(t, stream).WaitFor(t, 60*time.Second, "four changes", func(r []cdctest.Received) bool { return len(r) >= 4 })
	want := map[string][2]string{"o-traced/1": {tp1, "vendor=1"}, "o-traced/2": {tp2, ""}, "o-other/1": {tp3, ""}, "o-untraced/1": {"", ""}}
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d (the outbox's rows are not published): %+v", len(got), len(want), got)
	}
	for _, r := range got {
		key := fmt.Sprintf("%s/%d", r.Event.Subject, r.Event.Version)
		w, ok := want[key]
		if !ok {
			t.Errorf("unexpected %s: %+v", key, r)
			continue
		}
		delete(want, key)
		if r.Event.TraceParent != w[0] || r.Event.TraceState != w[1] || r.Event.Type != cdc.EventType {
			t.Errorf("%s: traceparent %q tracestate %q type %s, want %q %q", key, r.Event.TraceParent, r.Event.TraceState, r.Event.Type, w[0], w[1])
		}
		if err := r.Event.Validate(); err != nil {
			t.Error(err)
		}
	}
}

func TestConfigIsChecked(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  cdc.Config
	}{
		{"mysql", cdc.Config{DSN: "mysql://root@tcp(127.0.0.1:3306)/test", NATSURL: "nats://x"}},
		{"sqlite", cdc.Config{DSN: "sqlite:data/tmf.db", NATSURL: "nats://x"}},
		{"no nats", cdc.Config{DSN: "postgres://h/db"}},
		{"bad slot", cdc.Config{DSN: "postgres://h/db", NATSURL: "nats://x", Slot: "Robert'); DROP"}},
		{"negative window", cdc.Config{DSN: "postgres://h/db", NATSURL: "nats://x", MaxInFlight: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := cdc.New(tc.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := cdc.New(cdc.Config{DSN: "postgres://h/db", NATSURL: "nats://x"}); err != nil {
		t.Fatal(err)
	}
}
