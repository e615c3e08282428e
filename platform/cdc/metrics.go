package cdc

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the feed's Prometheus metrics.
type Metrics struct {
	// Active is 1 while this listener holds the lock and reads the slot.
	Active prometheus.Gauge
	// SlotLagBytes is pg_current_wal_lsn() - confirmed_flush_lsn of the
	// slot: the WAL the server keeps because the feed has not confirmed it.
	SlotLagBytes prometheus.Gauge
	// LagSeconds is, at the last confirmation, the time from the
	// confirmed transaction's commit to JetStream's acknowledgement of its
	// last change.
	LagSeconds prometheus.Gauge
	// Published counts changes JetStream acknowledged (duplicates included).
	Published prometheus.Counter
	// Duplicates counts acknowledged changes JetStream already held (same
	// Nats-Msg-Id within its duplicate window): changes published again
	// after a restart or a switch-over.
	Duplicates prometheus.Counter
	// Sessions counts replication sessions started (a restart or a
	// switch-over starts one).
	Sessions prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg (none when
// reg is nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_cdc_active",
			Help: "1 while this listener holds the lock and reads the replication slot."}),
		SlotLagBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_cdc_slot_lag_bytes",
			Help: "WAL bytes between the server's current position and the slot's confirmed position."}),
		LagSeconds: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_cdc_lag_seconds",
			Help: "Seconds from the last confirmed transaction's commit to JetStream's acknowledgement."}),
		Published: prometheus.NewCounter(prometheus.CounterOpts{Name: "tmf_cdc_published_total",
			Help: "Order changes JetStream acknowledged."}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "tmf_cdc_duplicates_total",
			Help: "Order changes published again that JetStream already held (dropped by id)."}),
		Sessions: prometheus.NewCounter(prometheus.CounterOpts{Name: "tmf_cdc_sessions_total",
			Help: "Replication sessions started."}),
	}
	if reg != nil {
		reg.MustRegister(m.Active, m.SlotLagBytes, m.LagSeconds, m.Published, m.Duplicates, m.Sessions)
	}
	return m
}
