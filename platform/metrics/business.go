// Package metrics holds the server's business metrics: counters fed by the
// events the platform commits (orders placed and paid, gross order value,
// stock crossing its thresholds), for Prometheus and for the console's
// dashboard (platform/metrics/series).
//
// They are counted from the outbox as the relay delivers it, so a counter
// moves only for what was committed, whichever path committed it (the
// API, the payment-timeout center, payment recovery). Delivery is at least
// once: the relay delivers an event again to every subscriber when one of
// them failed, so the last SeenWindow event ids are remembered and a
// redelivery among them is not counted twice; an event delivered again
// after a crash of the process is (rare, and small next to the rates
// charted). With
// several nodes, the node that holds the relay's lease counts: sum over
// nodes in Prometheus.
package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/outbox"
)

// Metric names of the business counters.
const (
	OrdersPlaced     = "tmf_orders_placed_total"
	OrdersPaid       = "tmf_orders_paid_total"
	OrderValuePlaced = "tmf_order_value_placed_total"
	StockLevelEvents = "tmf_stock_level_events_total"
)

// SeenWindow is how many event ids Business remembers to count a
// redelivered event once (16 bytes of id each: about 0.5 MB).
const SeenWindow = 16384

// Business counts the business events.
type Business struct {
	placed *prometheus.CounterVec
	paid   *prometheus.CounterVec
	value  *prometheus.CounterVec
	stock  *prometheus.CounterVec

	mu   sync.Mutex
	seen map[string]struct{}
	ring []string // the ids in seen, oldest at next
	next int
}

// NewBusiness registers the business counters with reg (nil: kept
// unregistered). Registering twice with one registerer reuses the first
// counters.
func NewBusiness(reg prometheus.Registerer) (*Business, error) {
	b := &Business{
		placed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: OrdersPlaced,
			Help: "Orders placed (committed), by business identity; counted from order.placed as the outbox relay delivers it."},
			[]string{"biz_code"}),
		paid: prometheus.NewCounterVec(prometheus.CounterOpts{Name: OrdersPaid,
			Help: "Orders paid, by business identity; counted from order.paid."}, []string{"biz_code"}),
		value: prometheus.NewCounterVec(prometheus.CounterOpts{Name: OrderValuePlaced,
			Help: "Gross value of the orders placed (their total, in the currency's minor units), by business identity and currency."},
			[]string{"biz_code", "currency"}),
		stock: prometheus.NewCounterVec(prometheus.CounterOpts{Name: StockLevelEvents,
			Help: "Reservations that took a SKU's sellable stock at a location under the low threshold (level=low) or to zero (level=out)."},
			[]string{"level"}),
	}
	b.seen, b.ring = make(map[string]struct{}, SeenWindow), make([]string, SeenWindow)
	if reg == nil {
		return b, nil
	}
	for _, c := range []**prometheus.CounterVec{&b.placed, &b.paid, &b.value, &b.stock} {
		if err := reg.Register(*c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				return nil, err
			}
			*c = existing
		}
	}
	return b, nil
}

// placedPayload is what the counters read of order.placed.
type placedPayload struct {
	Amounts struct {
		Total    int64  `json:"total"`
		Currency string `json:"currency"`
	} `json:"amounts"`
}

// Handle counts one event; it never fails (an event it cannot read is
// counted without its value), so it never holds the relay back.
func (b *Business) Handle(_ context.Context, e outbox.Event) error {
	if e.Attempt > 0 && b.counted(e.ID) {
		return nil
	}
	b.remember(e.ID)
	switch e.Topic {
	case events.OrderPlaced:
		biz := label(e.BizCode)
		b.placed.WithLabelValues(biz).Inc()
		var p placedPayload
		if json.Unmarshal(e.Payload, &p) == nil && p.Amounts.Total > 0 {
			b.value.WithLabelValues(biz, currency(p.Amounts.Currency)).Add(float64(p.Amounts.Total))
		}
	case events.OrderPaid:
		b.paid.WithLabelValues(label(e.BizCode)).Inc()
	case events.StockLow:
		b.stock.WithLabelValues("low").Inc()
	case events.StockOut:
		b.stock.WithLabelValues("out").Inc()
	}
	return nil
}

func (b *Business) counted(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.seen[id]
	return ok
}

// remember keeps id among the last SeenWindow ids.
func (b *Business) remember(id string) {
	if id == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[id]; ok {
		return
	}
	if old := b.ring[b.next]; old != "" {
		delete(b.seen, old)
	}
	b.ring[b.next], b.seen[id] = id, struct{}{}
	b.next = (b.next + 1) % len(b.ring)
}

// label is a biz code as a label value: identities are configuration, so
// their number is bounded; an event without one is "none".
func label(biz string) string {
	if biz == "" || len(biz) > 128 {
		return "none"
	}
	return biz
}

// currency keeps ISO 4217 codes (three capital letters) and names
// anything else "other", so that the label stays bounded.
func currency(c string) string {
	if len(c) != 3 {
		return "other"
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return "other"
		}
	}
	return c
}
