package readmodel_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/readmodel"
)

// load places, pays and cancels orders from several goroutines at once.
func load(t *testing.T, f fixture, workers, each int, offset int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n := offset + w*each + i
				v := f.place(t, n, order.Item{SKU: "case", Quantity: 1}, order.Item{SKU: "cable", Quantity: int64(1 + n%2)})
				var err error
				switch n % 3 {
				case 0:
					_, err = f.svc.Fire(context.Background(), v.ID, order.Event{Name: "pay", Actor: v.BuyerID})
				case 1:
					_, err = f.svc.Fire(context.Background(), v.ID, order.Event{Name: "cancel", Actor: v.BuyerID})
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func startFeed(t *testing.T, f fixture, m *readmodel.Model, stream string, prefix string, met *readmodel.Metrics, onApply func(string, int64)) *readmodel.Feed {
	t.Helper()
	js, _ := eventingJS(t)
	feed := readmodel.NewFeed(m, readmodel.StoreSource{Store: f.st}, js, met,
		readmodel.FeedConfig{Stream: stream, SubjectPrefix: prefix, Durable: "rm", OnApply: onApply})
	if err := feed.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return feed
}

// The read model equals the store after concurrent placements, payments
// and cancellations; then, with its feed stopped and its database's
// connections cut during more load, it catches up once a feed runs again.
func TestFeedEqualsStoreAndCatchesUpAfterAnOutage(t *testing.T) {
	f := newFixture(t)
	m, dsn := openModel(t)
	_, stream := eventing(t, f.st)
	met := readmodel.NewMetrics()
	feed := startFeed(t, f, m, stream.Name, stream.SubjectPrefix, met, nil)

	load(t, f, 6, 10, 0)
	equal := func() string {
		got, err := modelOrdersErr(m)
		if err != nil {
			return "read model: " + err.Error() // a connection cut by the outage: the pool reconnects
		}
		return diff(storeOrders(t, f.st), got)
	}
	eventually(t, 60*time.Second, equal)
	st := feed.Status(t.Context())
	if !st.Healthy || st.Orders != 60 || st.LastAppliedAt == nil {
		t.Fatalf("status after catching up: %+v", st)
	}

	// Outage: the feed stops (its process died) and every connection to
	// the read model's database is cut, while orders keep coming.
	stop, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := feed.Stop(stop); err != nil {
		t.Fatal(err)
	}
	cut := terminate(t, dsn)
	var wg sync.WaitGroup
	wg.Go(func() { load(t, f, 4, 10, 1000) })
	time.Sleep(50 * time.Millisecond)
	cut()
	wg.Wait()
	if d := equal(); d == "" || strings.HasPrefix(d, "read model: ") && equal() == "" {
		t.Fatal("the read model followed the store with its feed stopped: the outage test would not fail")
	}
	// Pending events are visible while nothing applies them.
	eventually(t, 30*time.Second, func() string {
		if n, err := feed.Pending(t.Context()); err != nil || n == 0 {
			return fmt.Sprintf("pending %d, %v; want > 0", n, err)
		}
		return ""
	})

	// The read model returns: a new feed on the same durable consumer
	// catches up from where the stream is.
	// Its connections are cut again while it catches up under load: the
	// events it failed to apply are delivered again.
	feed2 := startFeed(t, f, m, stream.Name, stream.SubjectPrefix, met, nil)
	defer feed2.Stop(context.Background()) //nolint:errcheck
	wg.Go(func() { load(t, f, 4, 10, 2000) })
	for range 3 {
		time.Sleep(30 * time.Millisecond)
		cut()
	}
	wg.Wait()
	eventually(t, 60*time.Second, equal)
	eventually(t, 30*time.Second, func() string {
		if n, err := feed2.Pending(t.Context()); err != nil || n != 0 {
			return fmt.Sprintf("pending %d, %v; want 0", n, err)
		}
		return ""
	})
}

// terminate returns a function that cuts every connection to the read
// model's database (as a restart of its server would).
func terminate(t *testing.T, dsn string) func() {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return func() {
		if _, err := db.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
			t.Error(err)
		}
	}
}

// A payment event (no order version) brings the order's paid and refunded
// totals; a duplicate or older order event changes nothing and reads no
// order.
func TestApplyBalancesAndStaleEvents(t *testing.T) {
	f := newFixture(t)
	m, _ := openModel(t)
	met := readmodel.NewMetrics()
	var applied []string
	feed := readmodel.NewFeed(m, readmodel.StoreSource{Store: f.st}, nil, met, readmodel.FeedConfig{
		OnApply: func(id string, v int64) { applied = append(applied, fmt.Sprintf("%s@%d", id, v)) }})
	v := f.place(t, 0, order.Item{SKU: "case", Quantity: 2})
	ctx := t.Context()
	ev := func(typ string, version int64) events.CloudEvent {
		return events.CloudEvent{ID: fmt.Sprintf("e-%s-%d-%d", typ, version, time.Now().UnixNano()), Type: typ, Subject: v.ID, Version: version,
			Time: time.Now().Add(-time.Second)}
	}
	if err := feed.Apply(ctx, ev(events.OrderPlaced, 1)); err != nil {
		t.Fatal(err)
	}
	// A refund does not move the order's version: only its balance.
	at := time.Now().UTC()
	if err := f.st.DB(ctx).Exec(`INSERT INTO tmf_payment_balances (order_id, currency, charge_id, method, captured, refunded, updated_at)
		VALUES (?, 'CNY', 'pay-1', 'card', ?, 500, ?)`, v.ID, v.Amounts.Total, at).Error; err != nil {
		t.Fatal(err)
	}
	if err := feed.Apply(ctx, ev(events.PaymentRefunded, 0)); err != nil {
		t.Fatal(err)
	}
	h, err := m.Get(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h.Paid != v.Amounts.Total || h.Refunded != 500 || h.Order.Version != 1 {
		t.Fatalf("after the refund event: paid %d refunded %d v%d; want %d, 500, v1", h.Paid, h.Refunded, h.Order.Version, v.Amounts.Total)
	}
	// The duplicate of the placement: held already, skipped without a read.
	if err := feed.Apply(ctx, ev(events.OrderPlaced, 1)); err != nil {
		t.Fatal(err)
	}
	if len(applied) != 2 {
		t.Fatalf("applied %v: the stale event was applied", applied)
	}
	// Events of other aggregates are ignored.
	if err := feed.Apply(ctx, events.CloudEvent{ID: "s", Type: events.StockLow, Subject: "case"}); err != nil {
		t.Fatal(err)
	}
	// The order moves: the next event brings the newer version.
	if _, err := f.svc.Fire(ctx, v.ID, order.Event{Name: "cancel", Actor: v.BuyerID}); err != nil {
		t.Fatal(err)
	}
	if err := feed.Apply(ctx, ev(events.OrderCancelled, 2)); err != nil {
		t.Fatal(err)
	}
	if h, _ = m.Get(ctx, v.ID); h.Order.Status != "cancelled" || h.Order.Version != 2 || h.Refunded != 500 {
		t.Fatalf("after the cancel: %s v%d refunded %d", h.Order.Status, h.Order.Version, h.Refunded)
	}
}

// A rebuild from scratch equals the store and prints its progress.
func TestRebuildFromScratch(t *testing.T) {
	f := newFixture(t)
	m, _ := openModel(t)
	seed(t, f, m, 25)
	// Damage the read model: a stale row and a foreign one.
	if _, err := m.Upsert(t.Context(), []readmodel.Snapshot{snap("o-foreign", 1, 0, time.Now())}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	clock := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	tick := func() time.Time { clock = clock.Add(time.Second); return clock }
	n, err := readmodel.Rebuild(t.Context(), m, readmodel.StoreSource{Store: f.st},
		readmodel.RebuildOptions{Reset: true, Batch: 7, Progress: &out, Every: time.Second, Clock: tick})
	if err != nil || n != 25 {
		t.Fatalf("rebuild: %d orders, %v", n, err)
	}
	if d := diff(storeOrders(t, f.st), modelOrders(t, m)); d != "" {
		t.Fatal(d)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	line := regexp.MustCompile(`^\d+/25 orders, \d+/s, eta \S+$`)
	for _, l := range lines {
		if !line.MatchString(l) {
			t.Fatalf("progress line %q", l)
		}
	}
	if len(lines) < 4 || !strings.HasPrefix(lines[len(lines)-1], "25/25 orders") {
		t.Fatalf("progress:\n%s", out.String())
	}
}

// A payment event carries the version the order has (a settled payment
// does not move it) while its transaction moved the payment balance: the
// feed must read the order even though the read model holds that version.
// A duplicate transition event at the held version needs no read.
func TestFeedAppliesPaymentEventsAtTheHeldVersion(t *testing.T) {
	f := newFixture(t)
	m, _ := openModel(t)
	ctx := t.Context()
	src := readmodel.StoreSource{Store: f.st}
	v := f.place(t, 0, order.Item{SKU: "case", Quantity: 1})
	feed := readmodel.NewFeed(m, src, nil, nil, readmodel.FeedConfig{})
	apply := func(typ string) {
		t.Helper()
		if err := feed.Apply(ctx, events.CloudEvent{ID: "e-" + typ, Type: typ, Subject: v.ID, Version: v.Version, Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	apply(events.OrderPlaced)
	for _, tc := range []struct {
		typ                string
		captured, refunded int64
	}{
		{events.PaymentChargeFailed, 0, 0},
		{events.PaymentRefundDue, 999, 999},
		{events.PaymentRefunded, 999, 999},
	} {
		at := time.Now().UTC().Truncate(time.Microsecond)
		if err := f.st.DB(ctx).Exec(`INSERT INTO tmf_payment_balances (order_id, currency, captured, refunded, charge_id, method, updated_at)
			VALUES (?, 'CNY', ?, ?, '', '', ?) ON CONFLICT (order_id) DO UPDATE SET captured = excluded.captured,
			refunded = excluded.refunded, updated_at = excluded.updated_at`, v.ID, tc.captured, tc.refunded, at).Error; err != nil {
			t.Fatal(err)
		}
		apply(tc.typ)
		h, err := m.Get(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if h.Paid != tc.captured || h.Refunded != tc.refunded || h.BalanceAt != at.UnixMicro() {
			t.Fatalf("after %s at v%d: paid %d refunded %d balance at %d; want %d %d %d", tc.typ, v.Version, h.Paid, h.Refunded, h.BalanceAt,
				tc.captured, tc.refunded, at.UnixMicro())
		}
		time.Sleep(2 * time.Millisecond) // the next balance is strictly later
	}
	if r, err := readmodel.Verify(ctx, m, src, 0); err != nil || !r.Equal() {
		t.Fatalf("verify: %v %v", r, err)
	}
}
