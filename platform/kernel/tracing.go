package kernel

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tmf-platform/tmf/platform/tracing"
)

// implSpan starts the span of one implementation call and makes it the
// operation's context for the call, so that what the implementation does
// (a bizpack round trip, its own spans) nests under it. It returns nil,
// and changes nothing, while tracing is off. end must be called.
func (op *Operation) implSpan(cp *compiledPoint, ci *compiledImpl) (span trace.Span, restore context.Context) {
	if !tracing.Enabled() {
		return nil, nil
	}
	attrs := []attribute.KeyValue{
		attribute.String("tmf.extension.point", cp.spec.Name),
		attribute.String("tmf.extension.impl", ci.name),
		attribute.String("tmf.extension.layer", ci.layer.String()),
		attribute.String("tmf.extension.source", ci.source),
		attribute.String("tmf.identity", string(op.plan.identity)),
	}
	if ci.layer == LayerBizpack {
		attrs = append(attrs, attribute.String("tmf.bizpack.name", ci.source), attribute.String("tmf.bizpack.version", ci.version))
	}
	if ci.origin != "" {
		attrs = append(attrs, attribute.String("tmf.extension.origin", string(ci.origin)))
	}
	restore = op.ctx
	op.ctx, span = tracing.Tracer().Start(op.ctx, cp.spec.Name+" "+ci.name, trace.WithAttributes(attrs...))
	return span, restore
}

// endImplSpan ends an implementation's span with its outcome, and, for a
// failure, what the point's policy makes of it (fail, fallback, skip).
func (op *Operation) endImplSpan(span trace.Span, restore context.Context, cp *compiledPoint, out Outcome, took time.Duration, err error) {
	if span == nil {
		return
	}
	op.ctx = restore
	span.SetAttributes(attribute.String("tmf.extension.outcome", out.String()),
		attribute.Int64("tmf.extension.duration_us", took.Microseconds()))
	switch {
	case out == OutcomeVeto:
		span.SetAttributes(attribute.String("tmf.extension.veto", ClipText(errText(err))))
	case out.Failed():
		span.SetAttributes(attribute.String("tmf.extension.on_failure", cp.spec.Policy.String()))
		span.SetStatus(codes.Error, ClipText(errText(err)))
	}
	span.End()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// prefetchSpan is the span of one Prefetch's round trips; the
// implementation spans that later use its answers link to it.
func (op *Operation) prefetchSpan(points []string) (context.Context, trace.Span) {
	if !tracing.Enabled() {
		return op.ctx, nil
	}
	return tracing.Tracer().Start(op.ctx, "extension prefetch", trace.WithAttributes(
		attribute.StringSlice("tmf.extension.points", points), attribute.String("tmf.identity", string(op.plan.identity))))
}

// markPrefetched notes on the current implementation span that its answer
// came from a Prefetch round trip, linking to it.
func (op *Operation) markPrefetched(from trace.SpanContext) {
	if !tracing.Enabled() {
		return
	}
	span := trace.SpanFromContext(op.ctx)
	span.SetAttributes(attribute.Bool("tmf.extension.prefetched", true))
	if from.IsValid() {
		span.AddLink(trace.Link{SpanContext: from})
	}
}
