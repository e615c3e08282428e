package plugin

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/internal/wire"
)

// Tracing across the process boundary. The host sends the W3C trace
// context of its round-trip span in the gRPC metadata of Invoke
// (traceparent, tracestate). When it is sampled, the bizpack records a
// span for the round trip and one per call, and the context an
// implementation receives carries its call's span, so the implementation's
// own spans (otel.Tracer(...).Start(ctx, ...)) are its children. A bizpack
// runs sandboxed, usually without network, so it does not export: the
// finished spans of the round trip travel back in the response's trailer
// (SpansTrailer, an OTLP ResourceSpans message) and the host exports them
// with their own ids and timing. Without a sampled trace context the
// bizpack records nothing.

// SpansTrailer is the gRPC trailer key of the spans a bizpack recorded
// during one Invoke: one OTLP ResourceSpans message (protobuf; "-bin" keys
// travel base64-encoded).
const SpansTrailer = "tmf-spans-bin"

// maxTrailerBytes bounds the encoded spans of one Invoke; spans past it
// are dropped (the host refuses larger reports).
const maxTrailerBytes = 60 << 10

// maxSpansPerInvoke bounds the spans kept for one Invoke.
const maxSpansPerInvoke = 128

// traceContext is the W3C trace-context propagator.
var traceContext = propagation.TraceContext{}

// mdCarrier adapts gRPC metadata to the propagator.
type mdCarrier metadata.MD

func (c mdCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c mdCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }
func (c mdCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// withTraceContext adds the trace context of ctx's span to the outgoing
// metadata, when the span is sampled; ok says it did.
func withTraceContext(ctx context.Context) (context.Context, bool) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() {
		return ctx, false
	}
	md := metadata.MD{}
	traceContext.Inject(ctx, mdCarrier(md))
	return metadata.NewOutgoingContext(ctx, metadata.Join(outgoing(ctx), md)), true
}

func outgoing(ctx context.Context) metadata.MD {
	md, _ := metadata.FromOutgoingContext(ctx)
	return md
}

// recorder keeps the spans a bizpack ends while a traced Invoke of their
// trace runs, for that Invoke's trailer.
type recorder struct {
	tp *sdktrace.TracerProvider

	mu   sync.Mutex
	open map[trace.TraceID]*bucket
}

type bucket struct {
	refs  int
	spans []sdktrace.ReadOnlySpan
}

var (
	recorderOnce sync.Once
	theRecorder  *recorder
)

// spanRecorder is the process's recorder, made on first use and installed
// as the global tracer provider, so that otel.Tracer in a bizpack's code
// records into it.
func spanRecorder(m extensions.Manifest) *recorder {
	recorderOnce.Do(func() {
		r := &recorder{open: map[trace.TraceID]*bucket{}}
		res := resource.NewSchemaless(attribute.String("service.name", m.Name), attribute.String("service.version", m.Version),
			attribute.String("service.namespace", "tmf-bizpack"))
		// Sampled exactly when the host's span is: nothing is recorded
		// outside a traced round trip.
		r.tp = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())),
			sdktrace.WithResource(res), sdktrace.WithSpanProcessor(r))
		otel.SetTracerProvider(r.tp)
		otel.SetTextMapPropagator(traceContext)
		theRecorder = r
	})
	return theRecorder
}

func (r *recorder) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (r *recorder) Shutdown(context.Context) error                  { return nil }
func (r *recorder) ForceFlush(context.Context) error                { return nil }

func (r *recorder) OnEnd(s sdktrace.ReadOnlySpan) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b := r.open[s.SpanContext().TraceID()]; b != nil && len(b.spans) < maxSpansPerInvoke {
		b.spans = append(b.spans, s)
	}
}

func (r *recorder) begin(id trace.TraceID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.open[id]
	if b == nil {
		b = &bucket{}
		r.open[id] = b
	}
	b.refs++
}

// end takes the spans of the trace recorded so far.
func (r *recorder) end(id trace.TraceID) []sdktrace.ReadOnlySpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.open[id]
	if b == nil {
		return nil
	}
	spans := b.spans
	b.spans = nil
	if b.refs--; b.refs == 0 {
		delete(r.open, id)
	}
	return spans
}

// invokeTrace is the bizpack's side of one traced Invoke.
type invokeTrace struct {
	rec    *recorder
	tracer trace.Tracer
	id     trace.TraceID
	span   trace.Span
}

// startTrace begins the spans of an Invoke when the host sent a sampled
// trace context; it returns ctx unchanged and nil otherwise.
func (s *server) startTrace(ctx context.Context, calls int) (context.Context, *invokeTrace) {
	md, _ := metadata.FromIncomingContext(ctx)
	if len(md.Get("traceparent")) == 0 {
		return ctx, nil
	}
	ctx = traceContext.Extract(ctx, mdCarrier(md))
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() {
		return ctx, nil
	}
	m := s.b.Manifest()
	t := &invokeTrace{rec: spanRecorder(m), id: sc.TraceID()}
	t.rec.begin(t.id)
	t.tracer = t.rec.tp.Tracer("github.com/tmf-platform/tmf/extensions/plugin")
	ctx, t.span = t.tracer.Start(ctx, "bizpack "+m.Name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("tmf.bizpack.name", m.Name), attribute.String("tmf.bizpack.version", m.Version),
			attribute.Int("tmf.bizpack.calls", calls)))
	return ctx, t
}

// startCall begins the span of one call; the implementation's context
// carries it.
func (t *invokeTrace) startCall(ctx context.Context, c *wire.Call) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, c.Point, trace.WithAttributes(attribute.String("tmf.extension.point", c.Point),
		attribute.String("tmf.identity", c.Identity)))
}

// endCall ends a call's span with its outcome.
func endCall(sp trace.Span, r *wire.Result) {
	o := outcomeOf(r.Outcome)
	sp.SetAttributes(attribute.String("tmf.extension.outcome", o.String()))
	if o != OK && o != Skip {
		sp.SetStatus(codes.Error, r.Error)
	}
	sp.End()
}

// finish ends the round trip's span and returns the trailer carrying every
// span of the trace the bizpack ended meanwhile.
func (t *invokeTrace) finish() metadata.MD {
	t.span.End()
	b := encodeSpans(t.rec.end(t.id))
	if b == nil {
		return nil
	}
	return metadata.Pairs(SpansTrailer, string(b))
}

// encodeSpans encodes spans as one OTLP ResourceSpans message, dropping the
// last ones if it would exceed maxTrailerBytes.
func encodeSpans(spans []sdktrace.ReadOnlySpan) []byte {
	if len(spans) == 0 {
		return nil
	}
	rs := &tracepb.ResourceSpans{Resource: &resourcepb.Resource{Attributes: kvs(spans[0].Resource().Attributes())}}
	scopes := map[string]*tracepb.ScopeSpans{}
	for _, s := range spans {
		sc := s.InstrumentationScope()
		ss := scopes[sc.Name]
		if ss == nil {
			ss = &tracepb.ScopeSpans{Scope: &commonpb.InstrumentationScope{Name: sc.Name, Version: sc.Version}}
			scopes[sc.Name] = ss
			rs.ScopeSpans = append(rs.ScopeSpans, ss)
		}
		tid, sid, pid := s.SpanContext().TraceID(), s.SpanContext().SpanID(), s.Parent().SpanID()
		sp := &tracepb.Span{TraceId: tid[:], SpanId: sid[:], ParentSpanId: pid[:], Name: s.Name(),
			Kind:              tracepb.Span_SpanKind(s.SpanKind()),
			StartTimeUnixNano: uint64(s.StartTime().UnixNano()), EndTimeUnixNano: uint64(s.EndTime().UnixNano()),
			Attributes: kvs(s.Attributes())}
		switch s.Status().Code {
		case codes.Error:
			sp.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: s.Status().Description}
		case codes.Ok:
			sp.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK}
		}
		for _, ev := range s.Events() {
			sp.Events = append(sp.Events, &tracepb.Span_Event{Name: ev.Name, TimeUnixNano: uint64(ev.Time.UnixNano()), Attributes: kvs(ev.Attributes)})
		}
		ss.Spans = append(ss.Spans, sp)
	}
	for {
		b, err := proto.Marshal(rs)
		if err != nil {
			return nil
		}
		if len(b) <= maxTrailerBytes {
			return b
		}
		// Too large: drop the last span recorded (the outermost end last).
		for i := len(rs.ScopeSpans) - 1; i >= 0; i-- {
			if n := len(rs.ScopeSpans[i].Spans); n > 0 {
				rs.ScopeSpans[i].Spans = rs.ScopeSpans[i].Spans[:n-1]
				break
			}
			if i == 0 {
				return nil
			}
		}
	}
}

func kvs(as []attribute.KeyValue) []*commonpb.KeyValue {
	out := make([]*commonpb.KeyValue, 0, len(as))
	for _, a := range as {
		var v *commonpb.AnyValue
		switch a.Value.Type() {
		case attribute.BOOL:
			v = &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: a.Value.AsBool()}}
		case attribute.INT64:
			v = &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: a.Value.AsInt64()}}
		case attribute.FLOAT64:
			v = &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: a.Value.AsFloat64()}}
		default:
			v = &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: a.Value.Emit()}}
		}
		out = append(out, &commonpb.KeyValue{Key: string(a.Key), Value: v})
	}
	return out
}
