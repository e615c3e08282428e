package eventstest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/events/eventstest"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

func TestVerify(t *testing.T) {
	good := `{"sku":"s","location":"l","sellable":0,"threshold":10,"orderId":"o1"}`
	cases := []struct {
		name  string
		event store.OutboxEvent
		want  string // "" for none
	}{
		{"valid", store.OutboxEvent{Topic: events.StockOut, AggregateID: "s", Payload: good}, ""},
		{"unknown type", store.OutboxEvent{Topic: "order.exploded", AggregateID: "o1", Payload: `{}`}, "does not declare"},
		{"invalid payload", store.OutboxEvent{Topic: events.StockOut, AggregateID: "s", Payload: `{"sku":"s"}`}, "missing properties"},
		{"order event without version", store.OutboxEvent{Topic: events.PaymentRefundDue, AggregateID: "o1", BizCode: "retail",
			Payload: `{"orderId":"o1","key":"k","amount":1,"currency":"EUR","reason":"r"}`}, "tmfversion"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := storetest.Open(t, "sqlite")
			ctx := context.Background()
			if err := st.Enqueue(ctx, c.event.AggregateID, c.event); err != nil {
				t.Fatal(err)
			}
			err := eventstest.Verify(ctx, st)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
