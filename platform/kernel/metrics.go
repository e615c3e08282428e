package kernel

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the kernel's Prometheus collectors: a call counter and a
// latency histogram per point, implementation, layer and source (the product
// or bizpack that bound it). Series are created when a plan is compiled, so
// a call only increments pre-resolved counters.
type Metrics struct {
	calls   *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// NewMetrics registers the kernel's collectors with reg. Registering twice
// with one registerer reuses the collectors already there.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tmf_extension_calls_total",
		Help: "Extension implementation calls by point, implementation, layer, source and outcome.",
	}, []string{"point", "impl", "layer", "source", "outcome"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tmf_extension_call_duration_seconds",
		Help:    "Duration of extension implementation calls.",
		Buckets: []float64{1e-6, 5e-6, 25e-6, 100e-6, 250e-6, 1e-3, 2.5e-3, 10e-3, 50e-3, 250e-3, 1},
	}, []string{"point", "impl", "layer", "source"})
	if reg != nil {
		var err error
		if calls, err = registerOrReuse(reg, calls); err != nil {
			return nil, err
		}
		if latency, err = registerOrReuse(reg, latency); err != nil {
			return nil, err
		}
	}
	return &Metrics{calls: calls, latency: latency}, nil
}

func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// implMetrics are the series of one implementation at one point.
type implMetrics struct {
	outcomes [numOutcomes]prometheus.Counter
	latency  prometheus.Observer
}

func (m *Metrics) forImpl(point, impl string, layer Layer, source string) *implMetrics {
	im := &implMetrics{latency: m.latency.WithLabelValues(point, impl, layer.String(), source)}
	for o := Outcome(0); o < numOutcomes; o++ {
		im.outcomes[o] = m.calls.WithLabelValues(point, impl, layer.String(), source, o.String())
	}
	return im
}
