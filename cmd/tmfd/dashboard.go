package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/metrics/series"
	"github.com/tmf-platform/tmf/platform/store"
)

// DashboardStockRows bounds the stock panel: the lowest SKU-location pairs
// under the low threshold.
const DashboardStockRows = 10

// metricsRegistry is the server's Prometheus registry; it remembers the
// name of every metric a collector registered with it describes, so that
// a test can check docs/monitoring against the names the server really
// exports (a labelled metric is absent from /metrics until it has a
// series, so a scrape cannot tell).
type metricsRegistry struct {
	*prometheus.Registry
	mu    sync.Mutex
	names map[string]bool
}

func newMetricsRegistry() *metricsRegistry {
	return &metricsRegistry{Registry: prometheus.NewRegistry(), names: map[string]bool{}}
}

// Register registers c and records the names it describes (also when it
// was registered already: the names are the same).
func (r *metricsRegistry) Register(c prometheus.Collector) error {
	err := r.Registry.Register(c)
	descs := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(descs); close(descs) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	for d := range descs {
		if name := descName(d); name != "" {
			r.names[name] = true
		}
	}
	return err
}

// MustRegister registers every collector, panicking on the first error
// (as prometheus.Registry does).
func (r *metricsRegistry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Names returns the metric names registered, sorted.
func (r *metricsRegistry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.names))
	for n := range r.names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// descName is a Desc's fully-qualified name; the client library shows it
// only in the Desc's text: Desc{fqName: "name", help: …}.
func descName(d *prometheus.Desc) string {
	_, rest, ok := strings.Cut(d.String(), `fqName: "`)
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, `"`)
	return name
}

// stockProbe adds the stock panel's points: the lowest sellable stock
// under the low threshold, one grouped read of the stock slots per sample.
func stockProbe(st *store.Store) series.Probe {
	return func(ctx context.Context) ([]series.Point, error) {
		rows, err := stock.Lowest(ctx, st.DB(ctx), stock.DefaultLowThreshold, DashboardStockRows)
		if err != nil {
			return nil, err
		}
		out := make([]series.Point, 0, len(rows))
		for _, r := range rows {
			// Lowest first: an empty shelf outweighs a low one.
			out = append(out, series.Point{Panel: series.PanelStockLow, Labels: map[string]string{"sku": r.SKU, "location": r.Location},
				Value: float64(r.Sellable), Weight: float64(stock.DefaultLowThreshold - r.Sellable)})
		}
		return out, nil
	}
}

// newDashboard is the sampler behind GET /v1/admin/dashboard.
func newDashboard(reg prometheus.Gatherer, st *store.Store, step time.Duration, log *slog.Logger) (*series.Sampler, error) {
	if step == 0 {
		step = series.DefaultStep
	}
	if step < time.Second {
		return nil, fmt.Errorf("--dashboard-step %s: at least 1s", step)
	}
	return series.NewSampler(series.Options{Gatherer: reg, Step: step, Probes: []series.Probe{stockProbe(st)}, Logger: log}), nil
}
