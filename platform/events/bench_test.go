package events_test

import (
	"testing"

	"github.com/tmf-platform/tmf/platform/events"
)

// What the test hook costs per event checked: an order.paid payload (the
// order view, one line) against its compiled schema.
func BenchmarkValidatePayload(b *testing.B) {
	typ, _ := events.Lookup(events.OrderPaid)
	d, err := events.DocOf(typ)
	if err != nil {
		b.Fatal(err)
	}
	ex := []byte(d.Examples[0])
	if err := events.ValidatePayload(events.OrderPaid, ex); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := events.ValidatePayload(events.OrderPaid, ex); err != nil {
			b.Fatal(err)
		}
	}
}
