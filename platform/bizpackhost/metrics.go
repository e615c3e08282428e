package bizpackhost

import "github.com/prometheus/client_golang/prometheus"

// breakerOpenDesc is tmf_bizpack_breaker_open: 1 while a bizpack's circuit
// breaker is open or half-open (the worst of its points' breakers), 0
// while closed; one series per bizpack the host knows.
var breakerOpenDesc = prometheus.NewDesc("tmf_bizpack_breaker_open",
	"1 while the bizpack's circuit breaker is open or half-open (its calls follow their points' failure policies), 0 while closed.",
	[]string{"bizpack"}, nil)

// breakerCollector reads the breakers at every gather, so the gauge is
// never stale and costs nothing between scrapes.
type breakerCollector struct{ h *Host }

func (c breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- breakerOpenDesc }

func (c breakerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.h.States() {
		v := 0.0
		if st.Breaker != "" && st.Breaker != "closed" {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(breakerOpenDesc, prometheus.GaugeValue, v, st.Name)
	}
}

// RegisterMetrics registers the host's gauges with reg.
func (h *Host) RegisterMetrics(reg prometheus.Registerer) error {
	return reg.Register(breakerCollector{h})
}
