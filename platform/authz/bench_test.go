package authz

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// benchSamples draws n (principal, order) pairs over a 10,000-node org tree.
func benchSamples(n int) []sample {
	rng := rand.New(rand.NewPCG(3, 4))
	tree := newOrgTree(rng, 10_000)
	out := make([]sample, n)
	for i := range out {
		out[i] = randomSample(rng, tree)
	}
	return out
}

// reportPercentiles adds p50 and p99 of the per-operation durations.
func reportPercentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkDecide: one prepared decision (allow, visible and events in one
// evaluation) for random principals and orders of a 10k-node tree.
func BenchmarkDecide(b *testing.B) {
	e := newEngine(b, Options{})
	samples := benchSamples(4096)
	ctx := context.Background()
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s := &samples[i%len(samples)]
		start := time.Now()
		if _, err := e.Decide(ctx, Input{Principal: s.p, Action: "order.event", Resource: &s.r}); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	reportPercentiles(b, durations)
}

// BenchmarkFilter: the list precondition plus the prepared partial
// evaluation of visible, translated into a Filter — what a principal's
// first list costs (uncached) and what later ones cost (cached until the
// policy is replaced).
func BenchmarkFilter(b *testing.B) {
	for _, cached := range []bool{false, true} {
		name := "uncached"
		if cached {
			name = "cached"
		}
		b.Run(name, func(b *testing.B) {
			e := newEngine(b, Options{})
			samples := benchSamples(4096)
			ctx := context.Background()
			durations := make([]time.Duration, 0, 1<<16)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				s := &samples[i%len(samples)]
				start := time.Now()
				var err error
				if cached {
					_, err = e.Filter(ctx, s.p, "order.list")
				} else {
					_, err = e.filter(ctx, e.current.Load(), s.p, "order.list")
				}
				if err != nil {
					b.Fatal(err)
				}
				durations = append(durations, time.Since(start))
			}
			reportPercentiles(b, durations)
		})
	}
}
