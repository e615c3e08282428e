package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/metrics"
	"github.com/tmf-platform/tmf/platform/outbox"
)

func TestBusinessCountsCommittedEvents(t *testing.T) {
	reg := prometheus.NewRegistry()
	b, err := metrics.NewBusiness(reg)
	if err != nil {
		t.Fatal(err)
	}
	// A second registration reuses the first counters.
	again, err := metrics.NewBusiness(reg)
	if err != nil {
		t.Fatal(err)
	}
	evs := []outbox.Event{
		{ID: "e1", Topic: events.OrderPlaced, BizCode: "retail", Payload: []byte(`{"amounts":{"total":1250,"currency":"CNY"}}`)},
		// Delivered again (another subscriber failed): counted once.
		{ID: "e1", Attempt: 1, Topic: events.OrderPlaced, BizCode: "retail", Payload: []byte(`{"amounts":{"total":1250,"currency":"CNY"}}`)},
		{Topic: events.OrderPlaced, BizCode: "retail", Payload: []byte(`{"amounts":{"total":750,"currency":"CNY"}}`)},
		{Topic: events.OrderPlaced, BizCode: "virtual", Payload: []byte(`{"amounts":{"total":99,"currency":"cny!"}}`)},
		{Topic: events.OrderPlaced, BizCode: "", Payload: []byte(`not json`)},
		{Topic: events.OrderPaid, BizCode: "retail"},
		{Topic: events.StockLow}, {Topic: events.StockOut}, {Topic: events.StockOut},
		{Topic: events.OrderCancelled, BizCode: "retail"},
	}
	for i, e := range evs {
		h := b.Handle
		if i >= 2 && i%2 == 1 {
			h = again.Handle // the same counters, its own memory of ids
		}
		if err := h(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	want := `
# HELP tmf_order_value_placed_total Gross value of the orders placed (their total, in the currency's minor units), by business identity and currency.
# TYPE tmf_order_value_placed_total counter
tmf_order_value_placed_total{biz_code="retail",currency="CNY"} 2000
tmf_order_value_placed_total{biz_code="virtual",currency="other"} 99
# HELP tmf_orders_paid_total Orders paid, by business identity; counted from order.paid.
# TYPE tmf_orders_paid_total counter
tmf_orders_paid_total{biz_code="retail"} 1
# HELP tmf_orders_placed_total Orders placed (committed), by business identity; counted from order.placed as the outbox relay delivers it.
# TYPE tmf_orders_placed_total counter
tmf_orders_placed_total{biz_code="none"} 1
tmf_orders_placed_total{biz_code="retail"} 2
tmf_orders_placed_total{biz_code="virtual"} 1
# HELP tmf_stock_level_events_total Reservations that took a SKU's sellable stock at a location under the low threshold (level=low) or to zero (level=out).
# TYPE tmf_stock_level_events_total counter
tmf_stock_level_events_total{level="low"} 1
tmf_stock_level_events_total{level="out"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
