package bizpackhost_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// BenchmarkOrderLimitGoVersusNode runs the same rule (order.validate: at
// most 5 items an order) as a Go bizpack (testdata/orderlimit) and as the
// Node.js one (bizpacks/node-order-limit, a bundle), each bound to an
// identity and called through the kernel as the order flow calls it: one
// order.validate round trip per order, 2 callers per CPU, no breaker. It reports the
// rate (orders/s: validations a second) and the per-call latency p50/p99
// (µs) and failures (a call past the point's 50ms deadline fails):
//
//	go test -run '^$' -bench OrderLimitGoVersusNode -benchtime 20000x ./platform/bizpackhost/
func BenchmarkOrderLimitGoVersusNode(b *testing.B) {
	dir := b.TempDir()
	goBin := buildPack(dir, "orderlimit", "./testdata/orderlimit", "")
	goSum, err := bizpackhost.Checksum(goBin)
	if err != nil {
		b.Fatal(err)
	}
	packs := []struct {
		lang string
		spec func(b *testing.B) (bizpackhost.Spec, map[string]string)
	}{
		{"go", func(*testing.B) (bizpackhost.Spec, map[string]string) {
			return bizpackhost.Spec{Name: "go-order-limit", Path: goBin, SHA256: goSum}, nil
		}},
		{"node", func(b *testing.B) (bizpackhost.Spec, map[string]string) {
			node := nodeOrSkip(b, true)
			p := filepath.Join(dir, "node.tar.gz")
			return bizpackhost.Spec{Name: "node-order-limit", Path: p, SHA256: writeBundle(b, nodeDir, p, nil)},
				map[string]string{"node": node}
		}},
	}
	for _, pk := range packs {
		b.Run(pk.lang, func(b *testing.B) {
			spec, interps := pk.spec(b)
			// No breaker: a call past its deadline on a busy machine is
			// counted as failed, not turned into instant refusals.
			o := bizpackhost.Options{Interpreters: interps, BreakerFailures: 1 << 30}
			e := setupB(b, o)
			if _, err := e.h.Load(context.Background(), spec); err != nil {
				b.Fatal(err)
			}
			if _, err := e.k.Apply(kernel.Config{Revision: 2, Identities: []kernel.IdentitySpec{
				{Code: "retail", Bizpacks: []kernel.BizpackRef{{Name: spec.Name}}}}}); err != nil {
				b.Fatal(err)
			}
			// Warm up: the first calls of a Node.js process compile its code.
			for range 200 {
				op, _ := e.k.Begin(context.Background(), "retail")
				_, _ = validateItems(op, 3)
			}
			var mu sync.Mutex
			var all []time.Duration
			var failed atomic.Int64
			b.SetParallelism(2)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				i := 0
				for pb.Next() {
					i++
					op, err := e.k.Begin(context.Background(), "retail")
					if err != nil {
						b.Error(err)
						return
					}
					t0 := time.Now()
					d, err := validateItems(op, int64(1+i%7)) // 1..7 items: some refused
					mine = append(mine, time.Since(t0))
					if err != nil || d.Allowed != (1+i%7 <= 5) {
						if failed.Add(1) == 1 {
							b.Logf("first failure: %+v, %v", d, err)
						}
					}
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(all)
			if len(all) == 0 {
				return
			}
			q := func(f float64) float64 { return float64(all[int(f*float64(len(all)-1))].Microseconds()) }
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "orders/s")
			b.ReportMetric(q(0.50), "p50-µs")
			b.ReportMetric(q(0.99), "p99-µs")
			b.ReportMetric(float64(failed.Load()), "failed")
		})
	}
}

// setupB is setup for a benchmark.
func setupB(b *testing.B, o bizpackhost.Options) *env {
	b.Helper()
	k, err := catalog.NewKernel(kernel.WithoutMetrics())
	if err != nil {
		b.Fatal(err)
	}
	h := bizpackhost.New(k, o)
	b.Cleanup(h.Close)
	return &env{k: k, h: h}
}
