package api_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// GET /v1/admin/events/status reads the outbox's backlog and the relays'
// leases from the database, and NATS, CDC and webhooks from the server's
// own metrics (absent parts are "not configured", not errors).
func TestEventStatus(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		r := e.do("GET", "/v1/admin/events/status", adminToken, nil)
		expect(t, r, 200, "")
		empty := decodeJSON[api.EventStatus](t, r)
		if empty.Outbox.Backlog != 0 || empty.Outbox.Oldest != nil || empty.NATS.Configured || empty.CDC.Configured ||
			empty.Webhooks.Configured || len(empty.Outbox.Relays) != 0 {
			t.Fatalf("a server with nothing relayed or configured: %+v", empty)
		}

		// An order commits events that no relay takes here: they wait.
		e.sku("mug", 1200, "kitchen", false, 50)
		alice := e.principal("alice", "buyer")
		expect(t, e.do("POST", "/v1/orders", alice, retailBody("mug", 1), "Idempotency-Key", "es-1"), 201, "")
		if ok, err := st.ClaimOutboxLease(t.Context(), "outbox", "node-a", time.Minute); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		connected := prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_events_nats_connected"})
		cdcActive := prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_cdc_active"})
		lag := prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_cdc_slot_lag_bytes"})
		pending := prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_webhook_deliveries_pending"})
		attempts := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tmf_webhook_attempts_total"}, []string{"outcome"})
		unrelated := prometheus.NewGauge(prometheus.GaugeOpts{Name: "tmf_something_else"})
		e.reg.MustRegister(connected, cdcActive, lag, pending, attempts, unrelated)
		cdcActive.Set(1)
		lag.Set(4096)
		pending.Set(3)
		attempts.WithLabelValues("failed").Add(2)
		attempts.WithLabelValues("succeeded").Add(5)

		r = e.do("GET", "/v1/admin/events/status", adminToken, nil)
		expect(t, r, 200, "")
		got := decodeJSON[api.EventStatus](t, r)
		if got.Outbox.Backlog < 1 || got.Outbox.Oldest == nil || got.Outbox.OldestAgeSeconds < 0 {
			t.Fatalf("outbox after an order: %+v", got.Outbox)
		}
		if len(got.Outbox.Relays) != 1 || got.Outbox.Relays[0].Owner != "node-a" || !got.Outbox.Relays[0].Held {
			t.Fatalf("relays: %+v", got.Outbox.Relays)
		}
		if !got.NATS.Configured || got.NATS.Connected {
			t.Fatalf("nats (registered, down): %+v", got.NATS)
		}
		if !got.CDC.Configured || !got.CDC.Active || got.CDC.SlotLagBytes != 4096 {
			t.Fatalf("cdc: %+v", got.CDC)
		}
		if !got.Webhooks.Configured || got.Webhooks.Pending != 3 || got.Webhooks.Attempts["failed"] != 2 || got.Webhooks.Attempts["succeeded"] != 5 {
			t.Fatalf("webhooks: %+v", got.Webhooks)
		}
		for _, m := range got.Metrics {
			if m.Name == "tmf_something_else" || m.Name == "tmf_api_requests_total" {
				t.Fatalf("an unrelated metric listed: %+v", m)
			}
		}
		connected.Set(1)
		if got := decodeJSON[api.EventStatus](t, e.do("GET", "/v1/admin/events/status", adminToken, nil)); !got.NATS.Connected {
			t.Fatalf("nats up: %+v", got.NATS)
		}
	})
}
