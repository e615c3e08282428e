package api

import (
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	dto "github.com/prometheus/client_model/go"
)

// ActionEventsRead reads the state of the event stream (admin).
const ActionEventsRead = "admin.events.read"

// Metric names the event stream's status reads from the server's own
// metrics (the Gatherer of Config): each is absent when the part that
// registers it does not run on this server.
const (
	metricNATSConnected      = "tmf_events_nats_connected"
	metricCDCActive          = "tmf_cdc_active"
	metricCDCSlotLag         = "tmf_cdc_slot_lag_bytes"
	metricCDCLag             = "tmf_cdc_lag_seconds"
	metricCDCPublished       = "tmf_cdc_published_total"
	metricCDCDuplicates      = "tmf_cdc_duplicates_total"
	metricCDCSessions        = "tmf_cdc_sessions_total"
	metricWebhookPending     = "tmf_webhook_deliveries_pending"
	metricWebhookOldest      = "tmf_webhook_oldest_pending_seconds"
	metricWebhookAttempts    = "tmf_webhook_attempts_total"
	metricRefundsFailedTotal = "tmf_payment_refunds_failed_total"
)

// eventMetricPrefixes are the metric families EventStatus.Metrics shows.
var eventMetricPrefixes = []string{"tmf_outbox_", "tmf_events_", "tmf_cdc_", "tmf_webhook_", "tmf_reconcile_", metricRefundsFailedTotal}

// EventStatus answers GET /v1/admin/events/status: what waits in the
// outbox and who relays it (read from the database now), and the state of
// NATS, of the CDC feed and of webhooks as this server's metrics say.
type EventStatus struct {
	Node     string         `json:"node"`
	Outbox   OutboxStatus   `json:"outbox"`
	NATS     NATSStatus     `json:"nats"`
	CDC      CDCStatus      `json:"cdc"`
	Webhooks WebhookStatus  `json:"webhooks"`
	Metrics  []MetricSample `json:"metrics"`
	At       time.Time      `json:"at"`
}

// OutboxStatus is the outbox's backlog and the relays' leases.
type OutboxStatus struct {
	// Backlog is the number of committed events not yet relayed.
	Backlog int64 `json:"backlog"`
	// Oldest is when the oldest of them was committed; OldestAgeSeconds
	// its age (0 when none waits).
	Oldest           *time.Time   `json:"oldest,omitempty"`
	OldestAgeSeconds float64      `json:"oldestAgeSeconds"`
	Relays           []RelayLease `json:"relays"`
}

// RelayLease is one relay's lease: Held while it has not expired.
type RelayLease struct {
	Name      string    `json:"name"`
	Owner     string    `json:"owner"`
	ExpiresAt time.Time `json:"expiresAt"`
	Held      bool      `json:"held"`
}

// NATSStatus: Configured when this server publishes to NATS JetStream.
type NATSStatus struct {
	Configured bool `json:"configured"`
	Connected  bool `json:"connected"`
}

// CDCStatus is the change-data-capture feed of this server, when it runs one.
type CDCStatus struct {
	Configured   bool    `json:"configured"`
	Active       bool    `json:"active"`
	SlotLagBytes float64 `json:"slotLagBytes"`
	LagSeconds   float64 `json:"lagSeconds"`
	Published    float64 `json:"published"`
	Duplicates   float64 `json:"duplicates"`
	Sessions     float64 `json:"sessions"`
}

// WebhookStatus is what waits for webhook endpoints and how attempts went.
type WebhookStatus struct {
	Configured           bool               `json:"configured"`
	Pending              float64            `json:"pending"`
	OldestPendingSeconds float64            `json:"oldestPendingSeconds"`
	Attempts             map[string]float64 `json:"attempts"`
}

// MetricSample is one sample of a counter or gauge: name{labels} value.
type MetricSample struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
}

// registerEventStatus adds GET /v1/admin/events/status.
func (s *Server) registerEventStatus(add func(method, path string, h echo.HandlerFunc, a access)) {
	add(http.MethodGet, "/v1/admin/events/status", s.eventStatus, function(ActionEventsRead))
}

func (s *Server) eventStatus(c echo.Context) error {
	ctx := c.Request().Context()
	now := time.Now().UTC()
	out := EventStatus{Node: s.node, At: now, Metrics: []MetricSample{}, Outbox: OutboxStatus{Relays: []RelayLease{}},
		Webhooks: WebhookStatus{Attempts: map[string]float64{}}}
	b, err := s.store.Backlog(ctx)
	if err != nil {
		return err
	}
	out.Outbox.Backlog = b.Count
	if b.Count > 0 && !b.Oldest.IsZero() {
		oldest := b.Oldest
		out.Outbox.Oldest = &oldest
		out.Outbox.OldestAgeSeconds = max(0, now.Sub(oldest).Seconds())
	}
	leases, err := s.store.OutboxLeases(ctx)
	if err != nil {
		return err
	}
	for _, l := range leases {
		out.Outbox.Relays = append(out.Outbox.Relays, RelayLease{Name: l.Name, Owner: l.Owner, ExpiresAt: l.ExpiresAt, Held: l.ExpiresAt.After(now)})
	}
	fams, err := s.gatherer.Gather()
	if err != nil && len(fams) == 0 {
		return err
	}
	for _, f := range fams {
		name := f.GetName()
		if !slices.ContainsFunc(eventMetricPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		for _, m := range f.GetMetric() {
			v, ok := sampleValue(f.GetType(), m)
			if !ok {
				continue
			}
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out.Metrics = append(out.Metrics, MetricSample{Name: name, Labels: labels, Value: v})
			out.apply(name, labels, v)
		}
	}
	sort.SliceStable(out.Metrics, func(i, j int) bool { return out.Metrics[i].Name < out.Metrics[j].Name })
	return c.JSON(http.StatusOK, out)
}

// apply reads one sample into the status's named fields.
func (st *EventStatus) apply(name string, labels map[string]string, v float64) {
	switch name {
	case metricNATSConnected:
		st.NATS.Configured, st.NATS.Connected = true, v == 1
	case metricCDCActive:
		st.CDC.Configured, st.CDC.Active = true, v == 1
	case metricCDCSlotLag:
		st.CDC.SlotLagBytes = v
	case metricCDCLag:
		st.CDC.LagSeconds = v
	case metricCDCPublished:
		st.CDC.Published = v
	case metricCDCDuplicates:
		st.CDC.Duplicates = v
	case metricCDCSessions:
		st.CDC.Sessions = v
	case metricWebhookPending:
		st.Webhooks.Configured, st.Webhooks.Pending = true, v
	case metricWebhookOldest:
		st.Webhooks.OldestPendingSeconds = v
	case metricWebhookAttempts:
		st.Webhooks.Attempts[labels["outcome"]] = v
	}
}

// sampleValue is a counter's or gauge's value; histograms and summaries
// are left to /metrics.
func sampleValue(t dto.MetricType, m *dto.Metric) (float64, bool) {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue(), true
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue(), true
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue(), true
	}
	return 0, false
}
