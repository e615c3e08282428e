package stockcenter

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// One node at a time holds a lease; it renews its own, and another takes
// it once it runs out. Two centers on one registry share the metrics.
func TestLeaseOneHolderAtATime(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		orders, stockDB := storetest.Open(t, dialect), storetest.Open(t, dialect)
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		reg := prometheus.NewRegistry()
		mk := func(node string) *Center {
			c, err := New(stockDB, One{orders}, Options{Node: node, Clock: clock, Lease: time.Minute, Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		a, b := mk("a"), mk("b")
		if err := a.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct {
			c    *Center
			want bool
			wait time.Duration
		}{{a, true, 0}, {b, false, 0}, {a, true, 0}, {b, false, 59 * time.Second}, {b, true, 2 * time.Minute}, {a, false, 0}} {
			mu.Lock()
			now = now.Add(step.wait)
			mu.Unlock()
			got, err := step.c.acquire(t.Context(), stockDB, "sweeper")
			if err != nil || got != step.want {
				t.Fatalf("%s takes the lease: %v (%v), want %v", step.c.opts.Node, got, err, step.want)
			}
		}
		if a.m.tried != b.m.tried {
			t.Error("two centers on one registry count apart")
		}
	})
}
