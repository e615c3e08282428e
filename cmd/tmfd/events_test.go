package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/events/consumer"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Three tmfd processes on one PostgreSQL database publish to NATS
// JetStream (a stream and subject prefix of this test's own); buyers place
// orders through them, about 10% of the placements are rolled back (more
// phones than there is stock: the reservation fails inside the order's
// transaction), half of the placed orders are cancelled (version 2), and
// every few seconds the process holding the outbox lease is SIGKILLed and
// started again. Then the set of events in the stream must equal the set
// of committed outbox rows, and a consumer must see every order's versions
// in order. TMF_EVENTS_ORDERS sets how many orders are placed (default
// 300) and TMF_EVENTS_SECONDS how long the load lasts (default 12, a kill
// every 3s); the full run: TMF_EVENTS_ORDERS=5000 TMF_EVENTS_SECONDS=120.
func TestEventsReachJetStreamOnceAndInOrderThroughKills(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three tmfd processes")
	}
	if !storetest.Available("postgres") {
		t.Skip("TMF_TEST_POSTGRES is not set: skipping the events acceptance test (it needs PostgreSQL)")
	}
	natsURL := os.Getenv("TMF_TEST_NATS")
	if natsURL == "" {
		t.Skip("TMF_TEST_NATS is not set (e.g. nats://127.0.0.1:4222): skipping the events acceptance test")
	}
	orders, seconds := 300, 12
	for _, v := range []struct {
		env string
		p   *int
	}{{"TMF_EVENTS_ORDERS", &orders}, {"TMF_EVENTS_SECONDS", &seconds}} {
		if s := os.Getenv(v.env); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 10 {
				t.Fatalf("%s=%q: want 10 or more", v.env, s)
			}
			*v.p = n
		}
	}
	const buyerCount = 6
	// Each buyer paces its orders so that the load lasts about seconds,
	// through several kills.
	pace := time.Duration(seconds) * time.Second * buyerCount / time.Duration(orders)
	var idb [5]byte
	_, _ = rand.Read(idb[:])
	tag := hex.EncodeToString(idb[:])
	streamName, prefix := "TMF_ACCEPT_"+tag, "accept"+tag+".events"

	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), streamName) })

	dsn := storetest.NewDatabase(t, "postgres")
	bin, dir := buildTmfd(t)
	cfg := crashConfig(t, dir, "1h")
	extra := []string{"--events", natsURL, "--events-stream", streamName, "--events-subject-prefix", prefix,
		"--outbox-lease", "2s", "--max-unpaid-orders", "1000000", "--max-unpaid-quantity", "1000000"}
	var mu sync.Mutex
	procs := make([]*tmfdProcess, 3)
	for i := range procs {
		procs[i] = startTmfd(t, bin, dir, fmt.Sprintf("p%d-0", i), dsn, cfg, i == 0, append([]string{"--rate-principal", "0"}, extra...)...)
	}
	pick := func(rng *mrand.Rand) string {
		mu.Lock()
		defer mu.Unlock()
		return procs[rng.IntN(len(procs))].base
	}

	// The consumer runs from the start, as a downstream team's would.
	var cmu sync.Mutex
	versions := map[string][]int64{}
	ids := map[string]bool{}
	var dupes atomic.Int64
	waitStream(t, js, streamName)
	c, err := consumer.Start(t.Context(), js, consumer.Config{Stream: streamName, Durable: "acceptance", Concurrency: 4},
		func(_ context.Context, e events.CloudEvent) error {
			cmu.Lock()
			defer cmu.Unlock()
			if ids[e.ID] {
				dupes.Add(1)
			}
			ids[e.ID] = true
			if e.Version > 0 {
				versions[e.Subject] = append(versions[e.Subject], e.Version)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
	}()

	// Kill the relay every few seconds while the buyers run.
	stopKills := make(chan struct{})
	var kills atomic.Int64
	var killer sync.WaitGroup
	killer.Go(func() {
		for gen := 1; ; gen++ {
			select {
			case <-stopKills:
				return
			case <-time.After(3 * time.Second):
			}
			mu.Lock()
			i := holder(procs)
			victim := procs[i]
			mu.Unlock()
			_ = victim.cmd.Process.Kill()
			<-victim.done
			kills.Add(1)
			next := startTmfd(t, bin, dir, fmt.Sprintf("p%d-%d", i, gen), dsn, cfg, false, append([]string{"--rate-principal", "0"}, extra...)...)
			mu.Lock()
			procs[i] = next
			mu.Unlock()
		}
	})

	var placed, refused, cancelled atomic.Int64
	var next atomic.Int64
	var buyers sync.WaitGroup
	for w := range buyerCount {
		buyers.Go(func() {
			rng := mrand.New(mrand.NewPCG(uint64(w), 16))
			token := []string{"demo-alice", "demo-bob"}[w%2]
			for n := next.Add(1); n <= int64(orders); n = next.Add(1) {
				time.Sleep(pace)
				if rng.IntN(10) == 0 { // rolled back: the phones are not in stock
					code, _ := crashCall(pick(rng), token, "POST", "/v1/orders",
						`{"items":[{"sku":"case-x","quantity":1},{"sku":"phone-x","quantity":5000}],"shippingAddress":{"region":"east","line1":"1 Bund"}}`,
						fmt.Sprintf("r%d-%d", w, n))
					if code >= 400 && code < 500 {
						refused.Add(1)
					}
					continue
				}
				var id string
				for try := 0; id == "" && try < 20; try++ { // a server may be down: another takes the retry
					code, body := crashCall(pick(rng), token, "POST", "/v1/orders",
						`{"items":[{"sku":"topup-50","quantity":1}],"shippingAddress":{"region":"east","line1":"1 Bund"}}`, fmt.Sprintf("w%d-%d", w, n))
					if code == http.StatusCreated || code == http.StatusOK {
						id, _ = body["id"].(string)
					} else {
						time.Sleep(100 * time.Millisecond)
					}
				}
				if id == "" {
					continue
				}
				placed.Add(1)
				if rng.IntN(2) == 0 {
					for try := 0; try < 20; try++ {
						if code, _ := crashCall(pick(rng), token, "POST", "/v1/orders/"+id+"/events", `{"event":"cancel"}`, ""); code == 200 {
							cancelled.Add(1)
							break
						}
						time.Sleep(100 * time.Millisecond)
					}
				}
			}
		})
	}
	buyers.Wait()
	close(stopKills)
	killer.Wait()

	// Every committed event reaches the stream and the consumer.
	st, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var committed []string
	waitOutboxDrained(t, st)
	deadline := time.Now().Add(90 * time.Second)
	if err := st.DB(t.Context()).Model(&store.OutboxEvent{}).Pluck("id", &committed).Error; err != nil {
		t.Fatal(err)
	}
	for {
		cmu.Lock()
		n := len(ids)
		cmu.Unlock()
		if n >= len(committed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumer received %d distinct events of %d committed", n, len(committed))
		}
		time.Sleep(100 * time.Millisecond)
	}
	s, err := js.Stream(t.Context(), streamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cmu.Lock()
	defer cmu.Unlock()
	want := map[string]bool{}
	for _, id := range committed {
		want[id] = true
		if !ids[id] {
			t.Errorf("committed event %s never reached the consumer", id)
		}
	}
	for id := range ids {
		if !want[id] {
			t.Errorf("event %s in the stream was never committed (a rolled-back order's?)", id)
		}
	}
	if info.State.Msgs != uint64(len(committed)) {
		t.Errorf("the stream holds %d messages for %d committed events (Nats-Msg-Id should drop re-published ones)", info.State.Msgs, len(committed))
	}
	for order, vs := range versions {
		for i := 1; i < len(vs); i++ {
			if vs[i] <= vs[i-1] {
				t.Errorf("order %s: versions arrived as %v", order, vs)
				break
			}
		}
	}
	if placed.Load() < int64(orders)/2 || refused.Load() == 0 || kills.Load() == 0 {
		t.Fatalf("too little happened to mean anything: %d placed, %d refused, %d kills", placed.Load(), refused.Load(), kills.Load())
	}
	t.Logf("%d orders placed (%d cancelled), %d placements rolled back, %d relay kills; %d events committed = %d in the stream; %d duplicates delivered to the consumer",
		placed.Load(), cancelled.Load(), refused.Load(), kills.Load(), len(committed), info.State.Msgs, dupes.Load())
}

// waitOutboxDrained waits until every committed event was relayed.
func waitOutboxDrained(t *testing.T, st *store.Store) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		b, err := st.Backlog(t.Context())
		if err == nil && b.Count == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox did not drain within 90s of the load: %+v, %v", b, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// holder is the index of the process whose log says last that it holds
// the outbox lease (0 when none says so yet).
func holder(procs []*tmfdProcess) int {
	for i, p := range procs {
		logText := p.log.all()
		last := strings.LastIndex(logText, `"msg":"outbox relay lease"`)
		if last < 0 {
			continue
		}
		line := logText[last:]
		if end := strings.IndexByte(line, '\n'); end >= 0 {
			line = line[:end]
		}
		if strings.Contains(line, `"held":true`) {
			return i
		}
	}
	return 0
}

// waitStream waits until a server created the stream.
func waitStream(t *testing.T, js jetstream.JetStream, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		_, err := js.Stream(ctx, name)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server created the stream %s in 60s: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// all is everything written so far.
func (l *lockedWriter) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
