package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/outbox"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// recorder is a Publisher that acknowledges what it is given, or fails
// while down is set.
type recorder struct {
	mu        sync.Mutex
	published map[string]int
	order     []string
	down      bool
}

func (p *recorder) Publish(_ context.Context, batch []outbox.Event) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return nil, errors.New("broker down")
	}
	var acked []string
	for _, e := range batch {
		p.published[e.ID]++
		p.order = append(p.order, e.ID)
		acked = append(acked, e.ID)
	}
	return acked, nil
}

func (p *recorder) setDown(v bool) { p.mu.Lock(); p.down = v; p.mu.Unlock() }

func waitDrained(t *testing.T, st *store.Store) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := st.Backlog(t.Context())
		if err == nil && b.Count == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox did not drain in 60s: %+v, %v", b, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two relays with a lease on one database: every event is published once,
// in the order it was written, and a publisher outage only delays them.
func TestRelaysShareTheOutboxByLease(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		dsn := storetest.NewDatabase(t, dialect)
		open := func() *store.Store {
			st, err := store.Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		a, b := open(), open()
		if err := a.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		pub := &recorder{published: map[string]int{}, down: true}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for _, st := range []*store.Store{a, b} {
			r := outbox.New(st, outbox.Options{Interval: 10 * time.Millisecond, Batch: 7, Publisher: pub, Lease: 5 * time.Second,
				MaxBackoff: 50 * time.Millisecond})
			wg.Go(func() { r.Run(ctx) })
		}
		placeOrders(t, a, 40)
		// While the broker is down nothing is marked.
		deadline := time.Now().Add(30 * time.Second)
		for {
			bl, err := a.Backlog(t.Context())
			if err != nil || bl.Count != 40 {
				t.Fatalf("backlog while the broker is down: %+v, %v", bl, err)
			}
			pub.mu.Lock()
			n := len(pub.order)
			pub.mu.Unlock()
			if n > 0 || time.Now().After(deadline) {
				t.Fatalf("published %d events while down", n)
			}
			// Leave the relays a few failed passes.
			if time.Since(deadline.Add(-30*time.Second)) > 300*time.Millisecond {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		pub.setDown(false)
		waitDrained(t, a)
		cancel()
		wg.Wait()
		pub.mu.Lock()
		defer pub.mu.Unlock()
		if len(pub.published) != 40 {
			t.Fatalf("published %d distinct events, want 40", len(pub.published))
		}
		for id, n := range pub.published {
			if n != 1 {
				t.Errorf("event %s published %d times, want once", id, n)
			}
		}
		for i, id := range pub.order {
			if want := fmt.Sprintf("e%04d", i); id != want {
				t.Fatalf("published #%d is %s, want %s (oldest first)", i, id, want)
			}
		}
	})
}
