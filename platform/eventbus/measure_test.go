package eventbus_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tmf-platform/tmf/platform/eventbus"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/events/consumer"
	"github.com/tmf-platform/tmf/platform/outbox"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// TestMeasureRelay measures, on PostgreSQL, the events per second the
// relay moves from a backlog to JetStream, and the latency from an
// event's commit to a consumer's handler while events are written at a
// steady rate (outbox polling at the default interval). It runs only with
// TMF_EVENTS_MEASURE=N (N events in the backlog, e.g. 20000); the figures
// are in docs/performance.md.
func TestMeasureRelay(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TMF_EVENTS_MEASURE"))
	if n <= 0 {
		t.Skip("TMF_EVENTS_MEASURE is not set: skipping the relay measurement")
	}
	url := natsURL(t)
	if !storetest.Available("postgres") {
		t.Skip("TMF_TEST_POSTGRES is not set: skipping the relay measurement")
	}
	st := storetest.Open(t, "postgres")
	id := unique()
	stream := eventbus.Stream{Name: "MEASURE_" + id, SubjectPrefix: "measure" + id, MaxAge: time.Hour}
	pub, err := eventbus.Connect(eventbus.Options{URL: url, Stream: stream})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	nc, _ := nats.Connect(url)
	defer nc.Close()
	js, _ := jetstream.New(nc)
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), stream.Name) })
	if err := pub.EnsureStream(t.Context()); err != nil {
		t.Fatal(err)
	}
	write := func(prefix string, count int) {
		const chunk = 500
		for i := 0; i < count; i += chunk {
			var rows []store.OutboxEvent
			for j := i; j < min(i+chunk, count); j++ {
				rows = append(rows, store.OutboxEvent{ID: fmt.Sprintf("%s%07d", prefix, j), Topic: "order.placed", AggregateID: fmt.Sprintf("o%d", j),
					BizCode: "retail", Version: 1, Payload: `{"orderId":"o","total":{"amount":4900,"currency":"CNY"},"lines":[{"sku":"case-x","quantity":1}]}`,
					CreatedAt: time.Now().UTC()})
			}
			if err := st.DB(t.Context()).Create(&rows).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	drain := func() {
		deadline := time.Now().Add(10 * time.Minute)
		for {
			b, err := st.Backlog(t.Context())
			if err == nil && b.Count == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not drained: %+v %v", b, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// 1. Throughput: a backlog of n events drained by one relay.
	write("b", n)
	relay := outbox.New(st, outbox.Options{Publisher: pub, Batch: 500, Lease: 10 * time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() { relay.Run(ctx) })
	drain()
	took := time.Since(start)
	t.Logf("relay throughput: %d events in %v = %.0f events/s", n, took.Round(time.Millisecond), float64(n)/took.Seconds())

	// 2. Latency: 200 events/s for 10s, commit → consumer handler; the
	// consumer does not first catch up with the backlog of step 1.
	if s, err := js.Stream(t.Context(), stream.Name); err != nil || s.Purge(t.Context()) != nil {
		t.Fatalf("purge the stream: %v", err)
	}
	var mu sync.Mutex
	var lat []time.Duration
	c, err := consumer.Start(t.Context(), js, consumer.Config{Stream: stream.Name, Durable: "measure",
		FilterSubjects: []string{stream.SubjectPrefix + ".>"}, Concurrency: 4},
		func(_ context.Context, e events.CloudEvent) error {
			if e.ID[0] == 'l' {
				mu.Lock()
				lat = append(lat, time.Since(e.Time))
				mu.Unlock()
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	const rate, secs = 200, 10
	tick := time.NewTicker(time.Second / 20)
	for i := 0; i < rate*secs; i += rate / 20 {
		<-tick.C
		write(fmt.Sprintf("l%07d-", i), rate/20)
	}
	tick.Stop()
	drain()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		got := len(lat)
		mu.Unlock()
		if got >= rate*secs || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	if len(lat) == 0 {
		t.Fatal("no latency samples")
	}
	t.Logf("commit → consumer latency at %d events/s, outbox polling every 200ms: p50 %v, p99 %v, max %v (%d samples)",
		rate, lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), len(lat))
}
