package bizpackhost

import (
	"slices"
	"sync"
	"time"

	"github.com/tmf-platform/tmf/platform/kernel"
)

// window is how many recent calls of a point the latency summary covers.
const window = 1024

// latencies keeps, per point, counters and the durations of its most
// recent calls, for the admin console's p50 and p99.
type latencies struct {
	mu     sync.Mutex
	points map[string]*pointLatency
	order  []string
}

type pointLatency struct {
	calls, failures int64
	ring            [window]time.Duration
	n               int
}

func newLatencies(points []string) *latencies {
	l := &latencies{points: map[string]*pointLatency{}}
	for _, p := range points {
		l.points[p] = &pointLatency{}
		l.order = append(l.order, p)
	}
	slices.Sort(l.order)
	return l
}

func (l *latencies) record(point string, took time.Duration, failed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.points[point]
	if p == nil {
		return
	}
	p.ring[p.calls%window] = took
	p.calls++
	p.n = min(p.n+1, window)
	if failed {
		p.failures++
	}
}

func (l *latencies) summary() []kernel.PointLatency {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]kernel.PointLatency, 0, len(l.order))
	for _, name := range l.order {
		p := l.points[name]
		s := kernel.PointLatency{Point: name, Calls: p.calls, Failures: p.failures}
		if p.n > 0 {
			d := slices.Clone(p.ring[:p.n])
			slices.Sort(d)
			s.P50 = d[(len(d)-1)*50/100]
			s.P99 = d[(len(d)-1)*99/100]
		}
		out = append(out, s)
	}
	return out
}
