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

// timeSamples runs op over the samples in turn, b.N times, and reports
// allocations and the p50 and p99 of one op.
func timeSamples(b *testing.B, samples []sample, op func(*sample) error) {
	durations := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s := &samples[i%len(samples)]
		start := time.Now()
		if err := op(s); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	reportPercentiles(b, durations)
}

// BenchmarkDecide: one decision (allow, visible and events) on order.event
// for random principals and orders of a 10k-node tree. evaluated: every
// decision goes through OPA, as one the cache has not seen does; remembered:
// through Decide, each pair already asked once (the cache is warmed first).
func BenchmarkDecide(b *testing.B) {
	for _, remembered := range []bool{false, true} {
		name := "evaluated"
		if remembered {
			name = "remembered"
		}
		b.Run(name, func(b *testing.B) {
			e := newEngine(b, Options{})
			samples := benchSamples(4096)
			ctx := context.Background()
			decide := func(s *sample) error {
				in := Input{Principal: s.p, Action: "order.event", Resource: &s.r}
				var err error
				if remembered {
					_, err = e.Decide(ctx, in)
				} else {
					_, err = e.decide(ctx, e.current.Load(), in)
				}
				return err
			}
			if remembered {
				for i := range samples {
					if err := decide(&samples[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
			timeSamples(b, samples, decide)
		})
	}
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
			timeSamples(b, samples, func(s *sample) error {
				var err error
				if cached {
					_, err = e.Filter(ctx, s.p, "order.list")
				} else {
					_, err = e.filter(ctx, e.current.Load(), s.p, "order.list")
				}
				return err
			})
		})
	}
}
