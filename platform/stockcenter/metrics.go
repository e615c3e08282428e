package stockcenter

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names of the stock center.
const (
	MetricReservations = "tmf_stock_reservations_total"  // by outcome: tried, confirmed, cancelled, expired, swept
	MetricHeld         = "tmf_stock_reservations_tried"  // tried reservations not yet confirmed or cancelled
	MetricIntents      = "tmf_stock_intents_pending"     // intents written and not yet applied, at the last pass
	MetricIntentErrors = "tmf_stock_intent_errors_total" // applies that failed (tried again)
)

type centerMetrics struct {
	tried, confirmed, cancelled, expired, swept, failed prometheus.Counter
	held, pending                                       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*centerMetrics, error) {
	res := prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricReservations,
		Help: "Stock reservations of the placement protocol, by outcome (tried, confirmed, cancelled, expired, swept)."}, []string{"outcome"})
	held := prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricHeld, Help: "Tried stock reservations waiting for their order's confirm or cancel."})
	pending := prometheus.NewGauge(prometheus.GaugeOpts{Name: MetricIntents, Help: "Stock intents written by orders and not yet applied to the stock database."})
	failed := prometheus.NewCounter(prometheus.CounterOpts{Name: MetricIntentErrors, Help: "Stock intents whose apply failed (they are tried again)."})
	if reg != nil {
		var err error
		if res, err = register(reg, res); err != nil {
			return nil, err
		}
		if held, err = register(reg, held); err != nil {
			return nil, err
		}
		if pending, err = register(reg, pending); err != nil {
			return nil, err
		}
		if failed, err = register(reg, failed); err != nil {
			return nil, err
		}
	}
	return &centerMetrics{tried: res.WithLabelValues("tried"), confirmed: res.WithLabelValues("confirmed"),
		cancelled: res.WithLabelValues("cancelled"), expired: res.WithLabelValues("expired"), swept: res.WithLabelValues("swept"),
		failed: failed, held: held, pending: pending}, nil
}

// register registers c with reg, or returns the collector registered
// before under its name (a second center on one registry shares it).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old, nil
			}
		}
		return c, err
	}
	return c, nil
}
