package lifecycle_test

import (
	"context"
	"testing"

	lc "github.com/tmf-platform/tmf/platform/lifecycle"
)

func BenchmarkMachineRebuild(b *testing.B) {
	c := mustCompile(b, lc.Default())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Machine(lc.PendingPayment); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFire is one request: rebuild the machine at the stored state, then
// fire pay through a passing guard and one effect.
func BenchmarkFire(b *testing.B) {
	c := mustCompile(b, payWith("confirm_stock"), lc.Effect{
		Name: "confirm_stock",
		Do:   func(context.Context, lc.Transition) error { return nil },
	})
	guard := func(context.Context, lc.Transition) error { return nil }
	req := lc.Request{OrderID: "order-7", Version: 12, Event: lc.EventPay}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m, err := c.Machine(lc.PendingPayment)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Fire(ctx, req, guard, nil); err != nil {
			b.Fatal(err)
		}
	}
}
