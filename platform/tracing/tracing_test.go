package tracing

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func ratio(r float64) *float64 { return &r }

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want Config
		err  string
	}{
		{"nothing", nil, Config{}, ""},
		{"all", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25", "OTEL_SERVICE_NAME": "shop"},
			Config{OTLPEndpoint: "http://c:4318", Protocol: ProtocolHTTP, Sampler: SamplerTraceIDRatio, Ratio: ratio(0.25), ServiceName: "shop"}, ""},
		{"traces endpoint wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4317", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4317"},
			Config{OTLPEndpoint: "http://b:4317"}, ""},
		{"sampler arg ignored for always_on", map[string]string{"OTEL_TRACES_SAMPLER": "always_on", "OTEL_TRACES_SAMPLER_ARG": "x"},
			Config{Sampler: SamplerAlwaysOn}, ""},
		{"disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4317"}, Config{}, ""},
		{"bad protocol", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, Config{}, "http/json"},
		{"bad ratio", map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "most"}, Config{}, "most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromEnv(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.OTLPEndpoint != tc.want.OTLPEndpoint || got.Protocol != tc.want.Protocol || got.Sampler != tc.want.Sampler ||
				got.ServiceName != tc.want.ServiceName || (got.Ratio == nil) != (tc.want.Ratio == nil) || got.Ratio != nil && *got.Ratio != *tc.want.Ratio {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestOverAndCheck(t *testing.T) {
	flags := Config{Sampler: SamplerAlwaysOn}
	file := Config{OTLPEndpoint: "http://file:4317", Sampler: SamplerAlwaysOff, Ratio: ratio(0.5)}
	env := Config{OTLPEndpoint: "http://env:4317", ServiceName: "from-env"}
	got := flags.Over(file).Over(env)
	if got.OTLPEndpoint != "http://file:4317" || got.Sampler != SamplerAlwaysOn || *got.Ratio != 0.5 || got.ServiceName != "from-env" {
		t.Fatalf("flags over file over env = %+v", got)
	}
	for _, tc := range []struct {
		cfg Config
		err string
	}{
		{Config{}, ""},
		{Config{OTLPEndpoint: "https://c:4317", Protocol: ProtocolGRPC, Sampler: SamplerParentBasedTraceIDRatio, Ratio: ratio(1)}, ""},
		{Config{OTLPEndpoint: "collector:4317"}, "otlpEndpoint"},
		{Config{Protocol: "udp"}, "protocol"},
		{Config{Sampler: "sometimes"}, "sampler"},
		{Config{Ratio: ratio(1.5)}, "ratio"},
	} {
		err := tc.cfg.Check()
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Check(%+v) = %v, want %q", tc.cfg, err, tc.err)
		}
	}
}

// Off: Start without an endpoint turns nothing on, and the tracer makes
// no recording spans.
func TestOffByDefault(t *testing.T) {
	p, err := Start(context.Background(), Config{}, Options{})
	if err != nil || p != nil {
		t.Fatalf("Start(off) = %v, %v", p, err)
	}
	if Enabled() {
		t.Fatal("tracing on without an endpoint")
	}
	_, span := Tracer().Start(context.Background(), "x")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Fatal("the off tracer records")
	}
	if tp, _ := Traceparent(context.Background()); tp != "" {
		t.Fatalf("traceparent %q without a span", tp)
	}
}

func kv(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

// A bizpack's report is taken only for what belongs under the round trip:
// spans of another trace, spans hanging from nowhere and malformed ids are
// dropped; times are clamped into the round trip; what the host knows
// overrides what the bizpack says.
func TestReemit(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	p, err := Start(context.Background(), Config{Sampler: SamplerAlwaysOn}, Options{Exporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	_, rt := Tracer().Start(context.Background(), "round trip")
	sc := rt.SpanContext()
	tid, rid := sc.TraceID(), sc.SpanID()
	start := time.Now()
	end := start.Add(10 * time.Millisecond)
	other := trace.TraceID{1, 2, 3}
	sid := func(b byte) []byte { return []byte{b, 0, 0, 0, 0, 0, 0, 1} }
	ns := func(t time.Time) uint64 { return uint64(t.UnixNano()) }
	spans := []*tracepb.Span{
		// The bizpack's span under the round trip, starting too early.
		{TraceId: tid[:], SpanId: sid(1), ParentSpanId: rid[:], Name: "bizpack", Kind: tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: ns(start.Add(-time.Second)), EndTimeUnixNano: ns(end.Add(-time.Millisecond)),
			Attributes: []*commonpb.KeyValue{kv("tmf.bizpack.name", "liar"), kv("own", "yes")}},
		// A call under it, ending too late.
		{TraceId: tid[:], SpanId: sid(2), ParentSpanId: sid(1), Name: "call", StartTimeUnixNano: ns(start.Add(time.Millisecond)),
			EndTimeUnixNano: ns(end.Add(time.Hour)), Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "bad"}},
		// Another trace.
		{TraceId: other[:], SpanId: sid(3), ParentSpanId: rid[:], Name: "elsewhere"},
		// Hanging from a span nobody reported.
		{TraceId: tid[:], SpanId: sid(4), ParentSpanId: sid(9), Name: "dangling"},
		// Malformed ids.
		{TraceId: tid[:], SpanId: []byte{1}, ParentSpanId: rid[:], Name: "short id"},
	}
	report, err := proto.Marshal(&tracepb.ResourceSpans{ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := Reemit(sc, start, end, report, attribute.String("tmf.bizpack.name", "flash-sale"))
	if err != nil || n != 2 {
		t.Fatalf("Reemit = %d, %v; want 2 spans", n, err)
	}
	if _, err := Reemit(sc, start, end, make([]byte, MaxReportBytes+1)); err != ErrReportTooLarge {
		t.Fatalf("a report past the limit: %v", err)
	}
	rt.End()
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range exp.GetSpans().Snapshots() {
		got[s.Name()] = s
	}
	b, c := got["bizpack"], got["call"]
	if b == nil || c == nil || got["elsewhere"] != nil || got["dangling"] != nil || got["short id"] != nil {
		t.Fatalf("exported %v", got)
	}
	if b.Parent().SpanID() != rid || !b.Parent().IsRemote() || c.Parent().SpanID() != b.SpanContext().SpanID() {
		t.Fatalf("parents: bizpack %s (want %s), call %s", b.Parent().SpanID(), rid, c.Parent().SpanID())
	}
	if !b.StartTime().Equal(start) || !c.EndTime().Equal(end) {
		t.Fatalf("times not clamped: bizpack starts %s (round trip %s), call ends %s (round trip %s)", b.StartTime(), start, c.EndTime(), end)
	}
	attrs := map[string]string{}
	for _, a := range b.Attributes() {
		if _, dup := attrs[string(a.Key)]; dup {
			t.Fatalf("attribute %s twice", a.Key)
		}
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if attrs["tmf.bizpack.name"] != "flash-sale" || attrs["own"] != "yes" {
		t.Fatalf("attributes %v", attrs)
	}
	if c.Status().Description != "bad" {
		t.Fatalf("call status %+v", c.Status())
	}
}
