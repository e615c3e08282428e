// Package series keeps a small time-series of the server's own metrics, so
// that the admin console can chart how the business is doing without a
// Prometheus server or anything else the operator must run.
//
// A Sampler gathers the server's Prometheus registry every step (10 s by
// default), turns counters into rates and histograms into quantiles over
// the step (from bucket deltas, as PromQL's histogram_quantile does), and
// appends the results to bounded ring buffers: FineSize samples at the step
// (one hour at 10 s) and CoarseSize samples at CoarseRatio steps (one day
// at 1 min), each tier computed from its own deltas, not by averaging the
// finer one. Memory is bounded: at most MaxSeries series (each holds
// FineSize+CoarseSize float64s, 14.4 KB; 256 series ≈ 3.7 MB) and at most
// PerPanel series per panel per sample (the largest).
//
// The series are this process's own: on several nodes, each node charts
// what it served (and, for the counters fed by the outbox relay, what it
// relayed). Prometheus and Grafana are the cross-node view
// (docs/monitoring/).
package series

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bounds of the store.
const (
	// FineSize is the number of samples kept at the sampling step.
	FineSize = 360
	// CoarseRatio is how many steps make one coarse sample.
	CoarseRatio = 6
	// CoarseSize is the number of coarse samples kept.
	CoarseSize = 1440
	// MaxSeries bounds the series kept (both tiers together count once
	// per key); a new series beyond it is dropped and counted.
	MaxSeries = 256
	// PerPanel bounds the series one panel adds per sample: the largest.
	PerPanel = 10
)

// Value is a sample; NaN (no sample) is written as JSON null.
type Value float64

// MarshalJSON writes NaN and infinities as null.
func (v Value) MarshalJSON() ([]byte, error) {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', 6, 64), nil
}

// Point is one derived value of one series at one sample.
type Point struct {
	Panel  string
	Labels map[string]string
	Value  float64
	// Weight orders the series of a panel when more than PerPanel have a
	// value (the request count of a latency, the value of a rate).
	Weight float64
}

func (p Point) key() string {
	names := make([]string, 0, len(p.Labels))
	for n := range p.Labels {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(p.Panel)
	for _, n := range names {
		b.WriteString("\x00")
		b.WriteString(n)
		b.WriteString("=")
		b.WriteString(p.Labels[n])
	}
	return b.String()
}

// ring is one series in one tier.
type ring struct {
	panel  string
	labels map[string]string
	values []float64
	last   int64 // the tier's sample number of its last value
}

// tier is one resolution: a ring of sample times and the series' rings,
// aligned with it.
type tier struct {
	step   time.Duration
	size   int
	times  []time.Time
	head   int   // index of the newest sample
	count  int64 // samples appended so far
	series map[string]*ring
}

func newTier(step time.Duration, size int) *tier {
	return &tier{step: step, size: size, times: make([]time.Time, size), head: -1, series: map[string]*ring{}}
}

// append adds one sample at t: every series gets NaN, then the points
// their values. Series without a value over the whole ring are dropped.
// room says whether a new series may be made.
func (t *tier) append(at time.Time, points []Point, room func(key string) bool) (dropped int) {
	t.head = (t.head + 1) % t.size
	t.times[t.head] = at
	t.count++
	for k, r := range t.series {
		r.values[t.head] = math.NaN()
		if t.count-r.last >= int64(t.size) {
			delete(t.series, k)
		}
	}
	for _, p := range points {
		k := p.key()
		r := t.series[k]
		if r == nil {
			if !room(k) {
				dropped++
				continue
			}
			r = &ring{panel: p.Panel, labels: p.Labels, values: make([]float64, t.size)}
			for i := range r.values {
				r.values[i] = math.NaN()
			}
			t.series[k] = r
		}
		r.values[t.head] = p.Value
		r.last = t.count
	}
	return dropped
}

// Panel describes one chart.
type Panel struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Unit of the values ("orders/min", "ms", "%", "events", "units").
	Unit string `json:"unit"`
	// Description says where the values come from.
	Description string `json:"description"`
}

// Series is one line of a chart.
type Series struct {
	// Name is the labels as text ("retail", "GET /v1/orders").
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Values []Value           `json:"values"`
	// Last is the newest value that is not null (null when none).
	Last Value `json:"last"`
}

// PanelSeries is one chart's data.
type PanelSeries struct {
	Panel
	Series []Series `json:"series"`
}

// Window is the answer to a query: the sample times, oldest first, and
// every panel's series aligned with them.
type Window struct {
	Step       Duration      `json:"step"`
	Range      Duration      `json:"range"`
	Timestamps []time.Time   `json:"timestamps"`
	Panels     []PanelSeries `json:"panels"`
	// SeriesKept and SeriesDropped tell whether MaxSeries was reached.
	SeriesKept    int   `json:"seriesKept"`
	SeriesDropped int64 `json:"seriesDropped"`
}

// Duration is a time.Duration written as Go's text ("10s", "1h0m0s").
type Duration time.Duration

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Store holds the two tiers.
type Store struct {
	mu      sync.RWMutex
	fine    *tier
	coarse  *tier
	panels  []Panel
	dropped int64
}

// NewStore returns an empty store with the given sampling step and the
// panels it answers for (in order).
func NewStore(step time.Duration, panels []Panel) *Store {
	return &Store{fine: newTier(step, FineSize), coarse: newTier(step*CoarseRatio, CoarseSize), panels: panels}
}

// Steps returns the fine and the coarse step.
func (s *Store) Steps() (fine, coarse time.Duration) { return s.fine.step, s.coarse.step }

// keys counts the distinct series keys of both tiers.
func (s *Store) keys() int {
	n := len(s.fine.series)
	for k := range s.coarse.series {
		if _, ok := s.fine.series[k]; !ok {
			n++
		}
	}
	return n
}

// AppendFine adds a fine sample.
func (s *Store) AppendFine(at time.Time, points []Point) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropped += int64(s.fine.append(at, s.heaviest(points), s.roomFor(s.coarse)))
}

// AppendCoarse adds a coarse sample.
func (s *Store) AppendCoarse(at time.Time, points []Point) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropped += int64(s.coarse.append(at, s.heaviest(points), s.roomFor(s.fine)))
}

// roomFor lets a new series in when the other tier holds its key (it
// does not grow the count) or the store is under MaxSeries.
func (s *Store) roomFor(other *tier) func(key string) bool {
	return func(key string) bool {
		if _, ok := other.series[key]; ok {
			return true
		}
		return s.keys() < MaxSeries
	}
}

// heaviest keeps the PerPanel heaviest points of each panel.
func (s *Store) heaviest(points []Point) []Point {
	by := map[string][]Point{}
	for _, p := range points {
		if math.IsNaN(p.Value) {
			continue
		}
		by[p.Panel] = append(by[p.Panel], p)
	}
	out := points[:0:0]
	for _, ps := range by {
		if len(ps) > PerPanel {
			slices.SortStableFunc(ps, func(a, b Point) int {
				if a.Weight != b.Weight {
					if a.Weight > b.Weight {
						return -1
					}
					return 1
				}
				return strings.Compare(a.key(), b.key())
			})
			ps = ps[:PerPanel]
		}
		out = append(out, ps...)
	}
	return out
}

// Query returns the last span of samples at step, which must be one of
// Steps(). Fewer samples come back when the store holds fewer.
func (s *Store) Query(span, step time.Duration) Window {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.fine
	if step == s.coarse.step {
		t = s.coarse
	}
	n := min(int(span/t.step), t.size, int(t.count))
	w := Window{Step: Duration(t.step), Range: Duration(span), Timestamps: make([]time.Time, 0, n),
		SeriesKept: s.keys(), SeriesDropped: s.dropped}
	idx := make([]int, 0, n)
	for i := n - 1; i >= 0; i-- {
		j := ((t.head-i)%t.size + t.size) % t.size
		idx = append(idx, j)
		w.Timestamps = append(w.Timestamps, t.times[j])
	}
	byPanel := map[string][]Series{}
	for _, r := range t.series {
		sr := Series{Name: labelText(r.labels), Labels: r.labels, Values: make([]Value, len(idx)), Last: Value(math.NaN())}
		seen := false
		for i, j := range idx {
			v := r.values[j]
			sr.Values[i] = Value(v)
			if !math.IsNaN(v) {
				seen, sr.Last = true, Value(v)
			}
		}
		if seen {
			byPanel[r.panel] = append(byPanel[r.panel], sr)
		}
	}
	for _, p := range s.panels {
		ss := byPanel[p.ID]
		slices.SortFunc(ss, func(a, b Series) int { return strings.Compare(a.Name, b.Name) })
		if ss == nil {
			ss = []Series{}
		}
		w.Panels = append(w.Panels, PanelSeries{Panel: p, Series: ss})
	}
	return w
}

// labelText is the labels' values joined in the order of their names.
func labelText(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for n := range labels {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, labels[n])
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, " · ")
}
