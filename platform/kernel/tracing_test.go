package kernel

import (
	"context"
	"errors"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tmf-platform/tmf/platform/tracing"
)

// With tracing on, every implementation call is a span under the
// operation's context, named by point and implementation, with its layer,
// source and outcome, and, for a failure, what the point's policy made of
// it.
func TestImplementationSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	p, err := tracing.Start(context.Background(), tracing.Config{Sampler: tracing.SamplerAlwaysOn},
		tracing.Options{Exporter: exp, BatchTimeout: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())

	f := newFixture(t, pick, gate)
	f.must(f.reg.SetDefault(pick.Impl("pick.d", answer("d")), gate.Impl("gate.d", allow)))
	f.must(f.reg.Register(pick.Impl("pick.skip", skip[string]), gate.Impl("gate.low", deny("low_says_no")),
		pick.Impl("pick.boom", func(context.Context, string) (string, error) { return "", errors.New("boom") })))
	f.must(f.reg.AddProduct(product("skipper", 30, bind("test.pick", "pick.skip"))))
	f.must(f.reg.AddProduct(product("boomer", 20, bind("test.pick", "pick.boom"))))
	f.must(f.reg.AddProduct(product("low", 10, bind("test.gate", "gate.low"))))
	f.start()
	f.apply(Config{Revision: 1, Identities: []IdentitySpec{{Code: "traced", Products: products("skipper", "boomer", "low")}}})

	ctx, root := tracing.Tracer().Start(context.Background(), "root")
	op, err := f.k.Begin(ctx, "traced")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := pick.Call(op, ""); err != nil || got != "d" {
		t.Fatalf("pick = %q, %v; want d (the failing product falls back to the default)", got, err)
	}
	if d, err := gate.Call(op, ""); err != nil || d.Allowed {
		t.Fatalf("gate = %+v, %v; want a veto", d, err)
	}
	root.End()
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}

	want := map[string]map[string]string{
		"test.pick pick.skip": {"tmf.extension.outcome": "skip", "tmf.extension.layer": "product", "tmf.extension.source": "skipper"},
		"test.pick pick.boom": {"tmf.extension.outcome": "error", "tmf.extension.on_failure": "fallback"},
		"test.pick pick.d":    {"tmf.extension.outcome": "ok", "tmf.extension.layer": "default"},
		"test.gate gate.low":  {"tmf.extension.outcome": "veto", "tmf.extension.veto": "vetoed: low_says_no: because low_says_no"},
		"test.gate gate.d":    nil, // never called: the veto came first
	}
	got := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range exp.GetSpans().Snapshots() {
		if s.SpanContext().TraceID() == root.SpanContext().TraceID() && s.Name() != "root" {
			got[s.Name()] = s
			if s.Parent().SpanID() != root.SpanContext().SpanID() {
				t.Errorf("span %q has parent %s, want the operation's span", s.Name(), s.Parent().SpanID())
			}
		}
	}
	for name, attrs := range want {
		s, ok := got[name]
		if attrs == nil {
			if ok {
				t.Errorf("span %q recorded, want none", name)
			}
			continue
		}
		if !ok {
			t.Errorf("no span %q; got %v", name, got)
			continue
		}
		have := map[string]string{}
		for _, kv := range s.Attributes() {
			have[string(kv.Key)] = kv.Value.Emit()
		}
		for k, v := range attrs {
			if have[k] != v {
				t.Errorf("span %q: %s = %q, want %q (all: %v)", name, k, have[k], v, have)
			}
		}
	}
	if len(got) != 4 {
		t.Errorf("%d implementation spans, want 4: %v", len(got), got)
	}
}

// discard is an exporter that drops what it is given.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkDispatchFirstTraced is BenchmarkDispatchFirst with tracing on:
// "sampled" records and exports a span per call (to an exporter that drops
// them), "unsampled" runs under a request that was not sampled. Compare
// with BenchmarkDispatchFirst (tracing off):
//
//	go test -run '^$' -bench 'DispatchFirst' -benchmem ./platform/kernel/
func BenchmarkDispatchFirstTraced(b *testing.B) {
	for _, tc := range []struct {
		name    string
		sampler string
	}{{"sampled", tracing.SamplerAlwaysOn}, {"unsampled", tracing.SamplerAlwaysOff}} {
		b.Run(tc.name, func(b *testing.B) {
			p, err := tracing.Start(context.Background(), tracing.Config{Sampler: tc.sampler}, tracing.Options{Exporter: discard{}})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Shutdown(context.Background())
			op := benchKernel(b)
			ctx, root := tracing.Tracer().Start(context.Background(), "request")
			defer root.End()
			op.ctx = ctx
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := benchFirst.Call(op, i); err != nil {
					b.Fatal(err)
				}
				if i%drainEvery == 0 {
					op.ClearTrace()
				}
			}
		})
	}
}
