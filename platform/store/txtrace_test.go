package store_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
	"github.com/tmf-platform/tmf/platform/tracing"
)

// With tracing on, each transaction is one span (not one per statement)
// that counts its statements; what it writes to the outbox carries its
// traceparent and the order's extension trace its trace id. A transaction
// outside any request (a background job) is a trace of its own.
func TestTransactionSpansAndTraceContext(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	p, err := tracing.Start(context.Background(), tracing.Config{Sampler: tracing.SamplerAlwaysOn},
		tracing.Options{Exporter: exp, BatchTimeout: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx, root := tracing.Tracer().Start(t.Context(), "request")
		n := newOrder("o-traced")
		n.Traces = []store.OrderTrace{{Point: "order.validate", Impl: "order.basic", Layer: "default", Outcome: "ok"}}
		if err := s.CreateOrder(ctx, n); err != nil {
			t.Fatal(err)
		}
		if err := s.Tx(ctx, func(tx *gorm.DB) error {
			var n int64
			for range 3 {
				if err := tx.Model(&store.Order{}).Count(&n).Error; err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.Enqueue(ctx, "agg-1", store.OutboxEvent{Topic: "stock.changed", Payload: `{}`}); err != nil {
			t.Fatal(err)
		}
		root.End()
		// Outside the request: its own trace.
		if err := s.Enqueue(t.Context(), "agg-2", store.OutboxEvent{Topic: "stock.changed", Payload: `{}`}); err != nil {
			t.Fatal(err)
		}
		if err := p.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		tid := root.SpanContext().TraceID()
		var txSpans []string
		var counts []int64
		for _, sp := range exp.GetSpans().Snapshots() {
			if sp.SpanContext().TraceID() != tid || sp.Name() != "db transaction" {
				continue
			}
			if sp.Parent().SpanID() != root.SpanContext().SpanID() {
				t.Errorf("transaction span's parent %s, want the request's", sp.Parent().SpanID())
			}
			txSpans = append(txSpans, sp.SpanContext().SpanID().String())
			for _, kv := range sp.Attributes() {
				if kv.Key == "tmf.db.statements" {
					counts = append(counts, kv.Value.AsInt64())
				}
			}
		}
		if len(txSpans) != 3 || len(counts) != 3 {
			t.Fatalf("%d transaction spans (%v statements), want 3", len(txSpans), counts)
		}
		if counts[1] != 3 {
			t.Errorf("the counting transaction ran %d statements, want 3 (all: %v)", counts[1], counts)
		}
		if counts[0] < 3 || counts[2] != 1 {
			t.Errorf("statement counts %v: want at least order, trace and event for the order, 1 for the enqueue", counts)
		}

		pending, err := s.PendingEvents(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		byAgg := map[string]store.OutboxEvent{}
		for _, e := range pending {
			byAgg[e.AggregateID] = e
		}
		for agg, span := range map[string]string{"o-traced": txSpans[0], "agg-1": txSpans[2]} {
			if e, want := byAgg[agg], "00-"+tid.String()+"-"+span+"-01"; e.Traceparent != want {
				t.Errorf("event of %s: traceparent %q, want %q", agg, e.Traceparent, want)
			}
		}
		if tp := byAgg["agg-2"].Traceparent; len(tp) != 55 || strings.Contains(tp, tid.String()) {
			t.Errorf("event written outside the request: traceparent %q, want one of its own trace", tp)
		}
		traces, err := s.OrderTraces(t.Context(), "o-traced")
		if err != nil || len(traces) != 1 || traces[0].TraceID != tid.String() {
			t.Fatalf("order traces %+v, %v; want one with trace id %s", traces, err, tid)
		}
	})
}
