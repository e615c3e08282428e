package bizpackhost

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tmf-platform/tmf/extensions/plugin"
	"github.com/tmf-platform/tmf/platform/tracing"
)

// roundTripSpan is the host's span of one round trip to a bizpack process
// (kind client), or nil while tracing is off. Its trace context travels to
// the bizpack in the call's metadata; the spans the bizpack recorded come
// back with the answer and are exported as its children (endRoundTrip).
func (in *instance) roundTripSpan(ctx context.Context, p *plugin.Process, calls []plugin.Call) (context.Context, trace.Span, []attribute.KeyValue) {
	if !tracing.Enabled() {
		return ctx, nil, nil
	}
	in.mu.Lock()
	version := in.manifest.Version
	in.mu.Unlock()
	who := []attribute.KeyValue{attribute.String("tmf.bizpack.name", in.spec.Name), attribute.String("tmf.bizpack.version", version),
		attribute.Int("tmf.bizpack.pid", p.Pid())}
	points := make([]string, len(calls))
	for i, c := range calls {
		points[i] = c.Point
	}
	ctx, span := tracing.Tracer().Start(ctx, "bizpack "+in.spec.Name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(who...), trace.WithAttributes(attribute.StringSlice("tmf.extension.points", points),
			attribute.String("rpc.system", "grpc"), attribute.String("rpc.service", "tmf.bizpack.v1.Bizpack"),
			attribute.String("rpc.method", "Invoke")))
	return ctx, span, who
}

// endRoundTrip ends the round trip's span and exports the bizpack's spans
// under it.
func (in *instance) endRoundTrip(span trace.Span, who []attribute.KeyValue, start, end time.Time, report []byte, err error) {
	if span == nil {
		return
	}
	n, rerr := tracing.Reemit(span.SpanContext(), start, end, report, who...)
	span.SetAttributes(attribute.Int("tmf.bizpack.spans", n))
	if rerr != nil {
		in.log.Warn("the bizpack's span report is refused", "error", rerr)
		span.SetAttributes(attribute.String("tmf.bizpack.span_report_error", rerr.Error()))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End(trace.WithTimestamp(end))
}
