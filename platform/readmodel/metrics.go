package readmodel

import (
	"math"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the read model, its feed and the reads that use it.
type Metrics struct {
	applied     *prometheus.CounterVec
	errors      prometheus.Counter
	lag         prometheus.Histogram
	lastLag     prometheus.Gauge
	lastApplied prometheus.Gauge
	pending     prometheus.Gauge
	up          prometheus.Gauge
	fallbacks   prometheus.Counter
	// last lag (float64 bits), last apply (Unix seconds) and fallbacks,
	// for Status.
	lastLagBits, lastAt, nFallbacks atomic.Int64
	// Reads counts reads by id by the level that answered (cache,
	// readmodel, store).
	Reads *prometheus.CounterVec
}

// NewMetrics makes the metrics (unregistered).
func NewMetrics() *Metrics {
	return &Metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tmf_readmodel_events_total",
			Help: "Order events the read model's feed handled, by result: applied (a newer state written), stale (not newer than held), missing (no such order), ignored (not an order's)."},
			[]string{"result"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "tmf_readmodel_errors_total",
			Help: "Events the feed failed to apply (redelivered later)."}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tmf_readmodel_lag_seconds",
			Help:    "Seconds from an event's time (its commit) to its apply in the read model.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}}),
		lastLag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_readmodel_last_lag_seconds",
			Help: "Lag of the last event applied (event time to apply)."}),
		lastApplied: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_readmodel_last_applied_timestamp_seconds",
			Help: "Unix time of the last event applied."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_readmodel_events_pending",
			Help: "Events the read model's durable consumer has not acknowledged (JetStream consumer info: pending + ack pending), as last read."}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_readmodel_up",
			Help: "1 when the read model's database answered the last health check."}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{Name: "tmf_readmodel_fallbacks_total",
			Help: "Order lists answered by the order store because the read model failed or missed its deadline."}),
		Reads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tmf_order_reads_total",
			Help: "Multi-level reads of an order by id, by the level that answered: cache, readmodel, store."}, []string{"level"}),
	}
}

// Register registers the metrics.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.applied, m.errors, m.lag, m.lastLag, m.lastApplied, m.pending, m.up, m.fallbacks, m.Reads} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Fallback counts a list the order store answered because the read model
// failed or missed its deadline.
func (m *Metrics) Fallback() {
	m.fallbacks.Inc()
	m.nFallbacks.Add(1)
}

func (m *Metrics) setLag(seconds float64, at int64) {
	m.lag.Observe(seconds)
	m.lastLag.Set(seconds)
	m.lastApplied.Set(float64(at))
	m.lastLagBits.Store(int64(math.Float64bits(seconds)))
	m.lastAt.Store(at)
}
