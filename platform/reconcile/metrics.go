package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics for alerting: open mismatches by check (from the database, so
// every node reports the same), the last run's time, duration and outcome.
type metrics struct {
	open        *prometheus.GaugeVec
	lastRun     prometheus.Gauge
	lastSuccess prometheus.Gauge
	lastOK      prometheus.Gauge
	duration    prometheus.Gauge
	runs        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tmf_reconcile_open_mismatches",
			Help: "Open reconciliation mismatches, by check."}, []string{"check"}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_reconcile_last_run_timestamp_seconds",
			Help: "When the last finished reconciliation run (any node) ended, in Unix seconds."}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_reconcile_last_success_timestamp_seconds",
			Help: "When the last successful reconciliation run (any node) ended, in Unix seconds."}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_reconcile_last_run_success",
			Help: "1 when the last finished reconciliation run (any node) succeeded, 0 when it failed."}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_reconcile_last_run_duration_seconds",
			Help: "How long the last finished reconciliation run (any node) took."}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tmf_reconcile_runs_total",
			Help: "Reconciliation runs this process finished, by kind and outcome."}, []string{"kind", "outcome"}),
	}
	for _, c := range Checks {
		m.open.WithLabelValues(c)
	}
	if reg != nil {
		reg.MustRegister(m.open, m.lastRun, m.lastSuccess, m.lastOK, m.duration, m.runs)
	}
	return m
}

func (m *metrics) observeRun(r Run, _ time.Duration) {
	m.runs.WithLabelValues(r.Kind, r.Status).Inc()
}

// RefreshMetrics reads the open mismatches by check and the last finished
// run from the database into the metrics. Loop calls it on every tick.
func (r *Runner) RefreshMetrics(ctx context.Context) error {
	var counts []struct {
		CheckName string
		N         int64
	}
	if err := r.st.DB(ctx).Model(&Mismatch{}).Select("check_name, COUNT(*) AS n").Where("status = ?", StatusOpen).
		Group("check_name").Scan(&counts).Error; err != nil {
		return fmt.Errorf("reconcile: count open mismatches: %w", err)
	}
	for _, c := range Checks {
		r.metrics.open.WithLabelValues(c).Set(0)
	}
	for _, c := range counts {
		r.metrics.open.WithLabelValues(c.CheckName).Set(float64(c.N))
	}
	var last []Run
	if err := r.st.DB(ctx).Where("finished_at IS NOT NULL").Order("id DESC").Limit(1).Find(&last).Error; err != nil {
		return fmt.Errorf("reconcile: last run: %w", err)
	}
	if len(last) == 1 {
		l := last[0]
		r.metrics.lastRun.Set(float64(l.FinishedAt.UnixMilli()) / 1000)
		r.metrics.duration.Set(l.FinishedAt.Sub(l.StartedAt).Seconds())
		ok := 0.0
		if l.Status == RunSucceeded {
			ok = 1
		}
		r.metrics.lastOK.Set(ok)
	}
	var lastOK []Run
	if err := r.st.DB(ctx).Where("status = ?", RunSucceeded).Order("id DESC").Limit(1).Find(&lastOK).Error; err != nil {
		return fmt.Errorf("reconcile: last successful run: %w", err)
	}
	if len(lastOK) == 1 && lastOK[0].FinishedAt != nil {
		r.metrics.lastSuccess.Set(float64(lastOK[0].FinishedAt.UnixMilli()) / 1000)
	}
	return nil
}
