package series

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	cases := []struct {
		name   string
		q      float64
		bounds []float64
		cum    []float64
		want   float64
	}{
		{"no observations", .5, []float64{1, 2, inf}, []float64{0, 0, 0}, math.NaN()},
		{"all in the first bucket: interpolated from 0", .5, []float64{1, 2, inf}, []float64{10, 10, 10}, .5},
		{"median in the second bucket", .5, []float64{1, 2, inf}, []float64{2, 10, 10}, 1 + (5.0-2)/8},
		{"p99 in the +Inf bucket: the highest finite bound", .99, []float64{1, 2, inf}, []float64{0, 50, 100}, 2},
		{"only +Inf", .5, []float64{inf}, []float64{4}, math.NaN()},
		{"p100 at the top of its bucket", 1, []float64{1, 2, inf}, []float64{5, 10, 10}, 2},
		{"mismatched lengths", .5, []float64{1}, []float64{1, 2}, math.NaN()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Quantile(c.q, c.bounds, c.cum)
			if math.IsNaN(c.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-c.want) > 1e-9) {
				t.Fatalf("Quantile(%v) = %v, want %v", c.q, got, c.want)
			}
		})
	}
}

// fakeServer registers the metrics the standard panels read.
type fakeServer struct {
	reg      *prometheus.Registry
	placed   *prometheus.CounterVec
	value    *prometheus.CounterVec
	problems *prometheus.CounterVec
	api      *prometheus.HistogramVec
	ext      *prometheus.CounterVec
	backlog  prometheus.Gauge
	breaker  *prometheus.GaugeVec
	hooks    *prometheus.CounterVec
}

func newFakeServer(_ testing.TB) *fakeServer {
	f := &fakeServer{reg: prometheus.NewRegistry(),
		placed:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricOrdersPlaced}, []string{"biz_code"}),
		value:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricOrderValue}, []string{"biz_code", "currency"}),
		problems: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricProblems}, []string{"code"}),
		api: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricAPIDuration, Buckets: []float64{.001, .01, .1, 1}},
			[]string{"method", "route"}),
		ext:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricExtCalls}, []string{"point", "impl", "layer", "source", "outcome"}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricOutboxBacklog}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: MetricBreakerOpen}, []string{"bizpack"}),
		hooks:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricWebhookAttempts}, []string{"outcome"}),
	}
	f.reg.MustRegister(f.placed, f.value, f.problems, f.api, f.ext, f.backlog, f.breaker, f.hooks)
	return f
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func series(t *testing.T, w Window, panel, name string) Series {
	t.Helper()
	for _, p := range w.Panels {
		if p.ID != panel {
			continue
		}
		for _, s := range p.Series {
			if s.Name == name {
				return s
			}
		}
		var names []string
		for _, s := range p.Series {
			names = append(names, s.Name)
		}
		t.Fatalf("panel %s has no series %q (has %v)", panel, name, names)
	}
	t.Fatalf("no panel %s", panel)
	return Series{}
}

func TestSamplerDerivesRatesQuantilesAndGauges(t *testing.T) {
	f := newFakeServer(t)
	clk := &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	s := NewSampler(Options{Gatherer: f.reg, Step: 10 * time.Second, Now: clk.now,
		Probes: []Probe{func(context.Context) ([]Point, error) {
			return []Point{{Panel: PanelStockLow, Labels: map[string]string{"sku": "mug", "location": "wh-1"}, Value: 3}}, nil
		}}})
	ctx := t.Context()
	f.placed.WithLabelValues("retail").Add(5) // before the first sample: not a rate
	f.backlog.Set(7)
	f.breaker.WithLabelValues("flash-sale").Set(1)
	if err := s.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(10 * time.Second)
	f.placed.WithLabelValues("retail").Add(20) // 20 in 10 s = 120/min
	f.placed.WithLabelValues("virtual").Add(1) // made after the first sample: from 0
	f.value.WithLabelValues("retail", "CNY").Add(6000)
	f.problems.WithLabelValues("out_of_stock").Add(3)
	for range 98 {
		f.api.WithLabelValues("POST", "/v1/orders").Observe(.005) // (.001, .01]
	}
	f.api.WithLabelValues("POST", "/v1/orders").Observe(.5) // (.1, 1]
	f.api.WithLabelValues("POST", "/v1/orders").Observe(.5)
	f.ext.WithLabelValues("pricing.adjust", "flash", "bizpack", "flash-sale", "ok").Add(3)
	f.ext.WithLabelValues("pricing.adjust", "flash", "bizpack", "flash-sale", "timeout").Add(1)
	f.ext.WithLabelValues("pricing.adjust", "flash", "bizpack", "flash-sale", "veto").Add(4) // a veto is no failure
	f.hooks.WithLabelValues("succeeded").Add(9)
	f.hooks.WithLabelValues("retry").Add(2)
	if err := s.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	w := s.Query(time.Hour, 10*time.Second)
	if len(w.Timestamps) != 2 {
		t.Fatalf("timestamps %v", w.Timestamps)
	}
	checks := []struct {
		panel, name string
		want        float64
	}{
		{PanelOrdersPlaced, "retail", 120},
		{PanelOrdersPlaced, "virtual", 6},
		{PanelOrderValue, "retail · CNY", 36000},
		{PanelRefusals, "out_of_stock", 18},
		{PanelAPIP50, "POST · /v1/orders", 1 + 9*(50.0/98)}, // ms: inside (1, 10] ms
		{PanelAPIP99, "POST · /v1/orders", 100 + 900*(99.0-98)/2},
		{PanelExtFailures, "flash · pricing.adjust · flash-sale", 100 * 1.0 / 8},
		{PanelEventBacklog, "outbox", 7},
		{PanelBreakers, "flash-sale", 1},
		{PanelWebhookFailures, "retry", 12},
		{PanelStockLow, "wh-1 · mug", 3},
	}
	for _, c := range checks {
		got := series(t, w, c.panel, c.name)
		if last := float64(got.Last); math.Abs(last-c.want) > 1e-6 {
			t.Errorf("%s %s = %v, want %v (values %v)", c.panel, c.name, last, c.want, got.Values)
		}
	}
	// The first sample had no rate: null, not zero.
	if v := series(t, w, PanelOrdersPlaced, "retail").Values[0]; !math.IsNaN(float64(v)) {
		t.Errorf("the first sample's rate = %v, want null", v)
	}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"values":[null,120]`) || !strings.Contains(string(b), `"step":"10s"`) {
		t.Errorf("JSON: %s", b)
	}

	// A quiet step: rates fall to 0, the histogram has no observation
	// (no point), a counter reset counts from 0.
	clk.t = clk.t.Add(10 * time.Second)
	f.reg.Unregister(f.placed)
	f.placed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricOrdersPlaced}, []string{"biz_code"})
	f.reg.MustRegister(f.placed)
	f.placed.WithLabelValues("retail").Add(2)
	if err := s.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	w = s.Query(time.Hour, 10*time.Second)
	if got := series(t, w, PanelOrdersPlaced, "retail").Values; float64(got[2]) != 12 {
		t.Errorf("after a reset: %v, want 12/min", got)
	}
	if got := series(t, w, PanelAPIP99, "POST · /v1/orders").Values; !math.IsNaN(float64(got[2])) {
		t.Errorf("latency of a step without requests: %v, want null", got)
	}
	if got := series(t, w, PanelRefusals, "out_of_stock").Values; float64(got[2]) != 0 {
		t.Errorf("refusals of a quiet step: %v, want 0", got)
	}
}

func TestSamplerCoarseTierHasItsOwnDeltas(t *testing.T) {
	f := newFakeServer(t)
	clk := &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	s := NewSampler(Options{Gatherer: f.reg, Step: 10 * time.Second, Now: clk.now})
	for i := range 2*CoarseRatio + 1 {
		if i > 0 {
			f.placed.WithLabelValues("retail").Add(float64(i)) // uneven per step
		}
		if err := s.Sample(t.Context()); err != nil {
			t.Fatal(err)
		}
		clk.t = clk.t.Add(10 * time.Second)
	}
	w := s.Query(24*time.Hour, time.Minute)
	if len(w.Timestamps) != 3 {
		t.Fatalf("coarse samples: %d", len(w.Timestamps))
	}
	got := series(t, w, PanelOrdersPlaced, "retail").Values
	// Samples 1..6 added 1+…+6 = 21 in a minute; 7..12 added 57.
	if float64(got[1]) != 21 || float64(got[2]) != 57 {
		t.Fatalf("coarse rates %v, want [null 21 57]", got)
	}
}

func TestStoreBounds(t *testing.T) {
	st := NewStore(10*time.Second, []Panel{{ID: "p"}})
	at := time.Unix(0, 0)
	var pts []Point
	for i := range 3 * PerPanel {
		pts = append(pts, Point{Panel: "p", Labels: map[string]string{"k": fmt.Sprint(i)}, Value: float64(i), Weight: float64(i)})
	}
	st.AppendFine(at, pts)
	w := st.Query(time.Hour, 10*time.Second)
	if n := len(w.Panels[0].Series); n != PerPanel {
		t.Fatalf("series of one panel after one sample: %d, want PerPanel=%d", n, PerPanel)
	}
	for _, s := range w.Panels[0].Series {
		if float64(s.Last) < float64(2*PerPanel) {
			t.Fatalf("kept %s = %v: not among the heaviest", s.Name, s.Last)
		}
	}
	// Many panels' worth of series: never more than MaxSeries.
	for i := range MaxSeries / PerPanel * 2 {
		var ps []Point
		for j := range PerPanel {
			ps = append(ps, Point{Panel: "p", Labels: map[string]string{"k": fmt.Sprintf("%d-%d", i, j)}, Value: 1})
		}
		st.AppendFine(at, ps)
	}
	w = st.Query(time.Hour, 10*time.Second)
	if w.SeriesKept > MaxSeries || w.SeriesDropped == 0 {
		t.Fatalf("kept %d, dropped %d: the bound %d does not hold", w.SeriesKept, w.SeriesDropped, MaxSeries)
	}
	// A series without a value for a whole ring leaves; the ring wraps.
	for range FineSize {
		st.AppendFine(at, []Point{{Panel: "p", Labels: map[string]string{"k": "alive"}, Value: 2}})
	}
	w = st.Query(time.Hour, 10*time.Second)
	if len(w.Timestamps) != FineSize || len(w.Panels[0].Series) != 1 || w.SeriesKept != 1 {
		t.Fatalf("after a whole ring: %d timestamps, %d series kept %d", len(w.Timestamps), len(w.Panels[0].Series), w.SeriesKept)
	}
	if w := st.Query(15*time.Minute, 10*time.Second); len(w.Timestamps) != 90 {
		t.Fatalf("15m at 10s: %d samples, want 90", len(w.Timestamps))
	}
}

func TestParseQuery(t *testing.T) {
	st := NewStore(10*time.Second, nil)
	cases := []struct {
		rng, step string
		span, at  time.Duration
		param     string
	}{
		{"", "", time.Hour, 10 * time.Second, ""},
		{"15m", "", 15 * time.Minute, 10 * time.Second, ""},
		{"6h", "", 6 * time.Hour, time.Minute, ""},
		{"24h", "1m", 24 * time.Hour, time.Minute, ""},
		{"1h", "1m0s", time.Hour, time.Minute, ""},
		{"2h", "", 0, 0, "range"},
		{"1h", "5s", 0, 0, "step"},
		{"1h", "ten", 0, 0, "step"},
		{"6h", "10s", 0, 0, "step"},
	}
	for _, c := range cases {
		t.Run(c.rng+"/"+c.step, func(t *testing.T) {
			span, step, err := st.ParseQuery(c.rng, c.step)
			var qe *QueryError
			switch {
			case c.param != "":
				if !errors.As(err, &qe) || qe.Param != c.param {
					t.Fatalf("err %v, want a refusal of %s", err, c.param)
				}
			case err != nil || span != c.span || step != c.at:
				t.Fatalf("= %v %v %v, want %v %v", span, step, err, c.span, c.at)
			}
		})
	}
}

func TestSamplerReportsAFailingProbeAndKeepsTheRest(t *testing.T) {
	f := newFakeServer(t)
	s := NewSampler(Options{Gatherer: f.reg, Probes: []Probe{func(context.Context) ([]Point, error) {
		return nil, errors.New("database away")
	}}})
	f.backlog.Set(3)
	if err := s.Sample(t.Context()); err == nil || !strings.Contains(err.Error(), "database away") {
		t.Fatalf("err %v", err)
	}
	if got := series(t, s.Query(time.Hour, DefaultStep), PanelEventBacklog, "outbox"); float64(got.Last) != 3 {
		t.Fatalf("backlog %v", got.Last)
	}
}

// BenchmarkSample: one sample of a registry with 40 routes, 60
// implementations and a few identities, as a busy server has.
func BenchmarkSample(b *testing.B) {
	f := newFakeServer(nil)
	for i := range 40 {
		f.api.WithLabelValues("GET", fmt.Sprintf("/v1/r%d", i)).Observe(.003)
	}
	for i := range 60 {
		f.ext.WithLabelValues("p", fmt.Sprintf("impl%d", i), "product", "x", "ok").Inc()
	}
	for _, biz := range []string{"retail", "virtual", "b2b"} {
		f.placed.WithLabelValues(biz).Inc()
	}
	clk := &clock{t: time.Unix(0, 0)}
	s := NewSampler(Options{Gatherer: f.reg, Now: clk.now})
	b.ReportAllocs()
	for b.Loop() {
		clk.t = clk.t.Add(DefaultStep)
		f.placed.WithLabelValues("retail").Inc()
		if err := s.Sample(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuery: the answer of a full hour.
func BenchmarkQuery(b *testing.B) {
	st := NewStore(DefaultStep, Panels)
	for i := range FineSize {
		var ps []Point
		for _, p := range Panels {
			for j := range PerPanel {
				ps = append(ps, Point{Panel: p.ID, Labels: map[string]string{"k": fmt.Sprint(j)}, Value: float64(i)})
			}
		}
		st.AppendFine(time.Unix(int64(i*10), 0), ps)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = st.Query(time.Hour, DefaultStep)
	}
}
