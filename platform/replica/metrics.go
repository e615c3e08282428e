package replica

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of a Set.
type Metrics struct {
	reads       *prometheus.CounterVec
	lag         *prometheus.GaugeVec
	up          *prometheus.GaugeVec
	markFailure prometheus.Counter
}

// NewMetrics makes unregistered metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tmf_replica_reads_total",
			Help: "Lag-tolerant order reads by the level that answered (replica, primary) and why (ok, down, lag, read_your_writes, mark_unreadable, replica_failed)."},
			[]string{"level", "reason"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tmf_replica_lag_seconds",
			Help: "How far each read replica was behind the primary at its last poll (an upper bound, to the poll interval)."},
			[]string{"replica"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tmf_replica_up",
			Help: "1 when the read replica answered its last poll as a hot standby, else 0."},
			[]string{"replica"}),
		markFailure: prometheus.NewCounter(prometheus.CounterOpts{Name: "tmf_replica_mark_failures_total",
			Help: "Writes whose read-your-writes marker could not be recorded (their writer's reads on other nodes rely on the client's consistency token)."}),
	}
}

// Register registers the metrics with reg (nil: nothing).
func (m *Metrics) Register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.reads, m.lag, m.up, m.markFailure} {
		errs = append(errs, reg.Register(c))
	}
	return errors.Join(errs...)
}

func (m *Metrics) read(level Level, reason string) {
	m.reads.WithLabelValues(string(level), reason).Inc()
}

func (m *Metrics) observe(name string, up bool, lag time.Duration) {
	v := 0.0
	if up {
		v = 1
	}
	m.up.WithLabelValues(name).Set(v)
	m.lag.WithLabelValues(name).Set(lag.Seconds())
}

func (m *Metrics) markFailed() { m.markFailure.Inc() }
