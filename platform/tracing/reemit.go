package tracing

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Limits on the spans one bizpack round trip may report: a bizpack is
// someone else's code, and what it reports goes to the operator's
// collector.
const (
	// MaxReportBytes bounds the encoded report (it travels in a gRPC
	// trailer).
	MaxReportBytes = 64 << 10
	// MaxReportedSpans bounds the spans taken from one report.
	MaxReportedSpans = 128
	// maxReportedAttrs bounds the attributes kept per span and resource.
	maxReportedAttrs = 32
	// maxReportedText bounds every name and string value, in bytes.
	maxReportedText = 512
)

// ErrReportTooLarge: a bizpack reported more than MaxReportBytes.
var ErrReportTooLarge = errors.New("tracing: the bizpack's span report is larger than 64 KiB")

// Reemit exports the spans a bizpack reported for one round trip (an OTLP
// ExportTraceServiceRequest's resource_spans, one ResourceSpans message,
// protobuf-encoded) as part of the trace of parent, the host's span of
// that round trip, which ran from start to end. A bizpack runs without
// network and cannot export its spans itself; this is how they reach the
// collector, with their own ids and timing.
//
// Only spans of parent's trace whose parent is parent or another span of
// the report are kept, at most MaxReportedSpans; their times are clamped
// into [start, end], names and values clipped. extra attributes (the
// bizpack's name, version and process, which the host knows) are added to
// every span. It returns how many spans were exported.
func Reemit(parent trace.SpanContext, start, end time.Time, report []byte, extra ...attribute.KeyValue) (int, error) {
	s := active.Load()
	if s == nil || len(report) == 0 || !parent.IsSampled() {
		return 0, nil
	}
	if len(report) > MaxReportBytes {
		return 0, ErrReportTooLarge
	}
	var rs tracepb.ResourceSpans
	if err := proto.Unmarshal(report, &rs); err != nil {
		return 0, fmt.Errorf("tracing: the bizpack's span report: %w", err)
	}
	res := resource.NewSchemaless(attrs(rs.GetResource().GetAttributes())...)
	known := map[trace.SpanID]bool{parent.SpanID(): true}
	var stubs []tracetest.SpanStub
	for _, ss := range rs.ScopeSpans {
		scope := instrumentation.Scope{Name: clip(ss.GetScope().GetName()), Version: clip(ss.GetScope().GetVersion())}
		for _, sp := range ss.Spans {
			if len(stubs) == MaxReportedSpans {
				break
			}
			if len(sp.TraceId) != 16 || len(sp.SpanId) != 8 || len(sp.ParentSpanId) != 8 {
				continue // malformed: converting would panic
			}
			tid, sid, pid := trace.TraceID(sp.TraceId), trace.SpanID(sp.SpanId), trace.SpanID(sp.ParentSpanId)
			if tid != parent.TraceID() || !sid.IsValid() || sid == parent.SpanID() {
				continue
			}
			known[sid] = true
			stub := tracetest.SpanStub{
				Name:        clip(sp.Name),
				SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}),
				Parent: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: pid, TraceFlags: trace.FlagsSampled,
					Remote: pid == parent.SpanID()}),
				SpanKind:             kindOf(sp.Kind),
				StartTime:            clamp(time.Unix(0, int64(sp.StartTimeUnixNano)), start, end),
				EndTime:              clamp(time.Unix(0, int64(sp.EndTimeUnixNano)), start, end),
				Attributes:           append(without(attrs(sp.Attributes), extra), extra...),
				Resource:             res,
				InstrumentationScope: scope,
			}
			if stub.EndTime.Before(stub.StartTime) {
				stub.EndTime = stub.StartTime
			}
			switch sp.GetStatus().GetCode() {
			case tracepb.Status_STATUS_CODE_ERROR:
				stub.Status = sdktrace.Status{Code: codes.Error, Description: clip(sp.GetStatus().GetMessage())}
			case tracepb.Status_STATUS_CODE_OK:
				stub.Status = sdktrace.Status{Code: codes.Ok}
			}
			for _, ev := range sp.Events {
				if len(stub.Events) == maxReportedAttrs {
					break
				}
				stub.Events = append(stub.Events, sdktrace.Event{Name: clip(ev.Name),
					Time: clamp(time.Unix(0, int64(ev.TimeUnixNano)), start, end), Attributes: attrs(ev.Attributes)})
			}
			stubs = append(stubs, stub)
		}
	}
	n := 0
	for _, st := range stubs {
		if !known[st.Parent.SpanID()] {
			continue // not under the round trip: it would dangle in the trace
		}
		s.proc.OnEnd(st.Snapshot())
		n++
	}
	return n, nil
}

func clamp(t, lo, hi time.Time) time.Time {
	switch {
	case t.Before(lo):
		return lo
	case t.After(hi):
		return hi
	}
	return t
}

func clip(s string) string {
	if len(s) > maxReportedText {
		return s[:maxReportedText]
	}
	return s
}

func kindOf(k tracepb.Span_SpanKind) trace.SpanKind {
	switch k {
	case tracepb.Span_SPAN_KIND_SERVER:
		return trace.SpanKindServer
	case tracepb.Span_SPAN_KIND_CLIENT:
		return trace.SpanKindClient
	case tracepb.Span_SPAN_KIND_PRODUCER:
		return trace.SpanKindProducer
	case tracepb.Span_SPAN_KIND_CONSUMER:
		return trace.SpanKindConsumer
	}
	return trace.SpanKindInternal
}

// attrs converts OTLP attributes: scalars, and arrays as their text.
func attrs(kvs []*commonpb.KeyValue) []attribute.KeyValue {
	out := make([]attribute.KeyValue, 0, min(len(kvs), maxReportedAttrs))
	for _, kv := range kvs {
		if len(out) == maxReportedAttrs {
			break
		}
		k := clip(kv.Key)
		if k == "" {
			continue
		}
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			out = append(out, attribute.String(k, clip(v.StringValue)))
		case *commonpb.AnyValue_BoolValue:
			out = append(out, attribute.Bool(k, v.BoolValue))
		case *commonpb.AnyValue_IntValue:
			out = append(out, attribute.Int64(k, v.IntValue))
		case *commonpb.AnyValue_DoubleValue:
			out = append(out, attribute.Float64(k, v.DoubleValue))
		case nil:
		default:
			out = append(out, attribute.String(k, clip(fmt.Sprint(kv.GetValue()))))
		}
	}
	return out
}

// without drops from as the keys that extra sets: what the host knows
// wins over what the bizpack says.
func without(as, extra []attribute.KeyValue) []attribute.KeyValue {
	out := as[:0]
	for _, a := range as {
		keep := true
		for _, e := range extra {
			if a.Key == e.Key {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, a)
		}
	}
	return out
}
