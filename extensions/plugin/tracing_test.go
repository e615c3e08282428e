package plugin

import (
	"context"
	"testing"

	"github.com/hashicorp/go-hclog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/internal/wire"
)

// fakeStream stands in for gRPC's server stream: it keeps the trailer.
type fakeStream struct{ trailer metadata.MD }

func (f *fakeStream) Method() string               { return "/tmf.bizpack.v1.Bizpack/Invoke" }
func (f *fakeStream) SetHeader(metadata.MD) error  { return nil }
func (f *fakeStream) SendHeader(metadata.MD) error { return nil }
func (f *fakeStream) SetTrailer(md metadata.MD) error {
	f.trailer = metadata.Join(f.trailer, md)
	return nil
}

// A bizpack called with a sampled traceparent records its round trip and
// each call, its implementations' own spans (made with otel.Tracer from
// the context they receive) nest under their call, and everything comes
// back in the trailer; without a traceparent, or with an unsampled one,
// there is no trailer.
func TestInvokeReturnsTheBizpacksSpans(t *testing.T) {
	b := extensions.New(extensions.Manifest{Name: "traced", Version: "1.2.3"})
	extensions.Implement(b, extensions.OrderGuard, func(ctx context.Context, _ extensions.GuardRequest) (extensions.Verdict, error) {
		_, sp := otel.Tracer("traced-author").Start(ctx, "look up the buyer")
		sp.End()
		return extensions.Allow(), nil
	})
	s := &server{b: b, log: hclog.NewNullLogger()}
	in := &wire.InvokeRequest{Calls: []*wire.Call{{Point: extensions.OrderGuard, Identity: "retail", Request: []byte(`{}`), TimeoutMicros: 1e6}}}
	tid := trace.TraceID{0xab, 1}
	host := trace.SpanID{0xcd, 2}
	for _, tc := range []struct {
		name, traceparent string
		spans             bool
	}{
		{"sampled", "00-" + tid.String() + "-" + host.String() + "-01", true},
		{"not sampled", "00-" + tid.String() + "-" + host.String() + "-00", false},
		{"no trace context", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &fakeStream{}
			ctx := grpc.NewContextWithServerTransportStream(context.Background(), st)
			if tc.traceparent != "" {
				ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("traceparent", tc.traceparent))
			}
			out, err := s.Invoke(ctx, in)
			if err != nil || out.Results[0].Outcome != wire.Outcome_OUTCOME_OK {
				t.Fatalf("Invoke = %v, %v", out, err)
			}
			got := st.trailer.Get(SpansTrailer)
			if !tc.spans {
				if len(got) != 0 {
					t.Fatalf("trailer with spans without a sampled trace context")
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("trailer %v, want the spans", st.trailer)
			}
			var rs tracepb.ResourceSpans
			if err := proto.Unmarshal([]byte(got[0]), &rs); err != nil {
				t.Fatal(err)
			}
			byName := map[string]*tracepb.Span{}
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					if trace.TraceID(sp.TraceId) != tid {
						t.Errorf("span %q of another trace", sp.Name)
					}
					byName[sp.Name] = sp
				}
			}
			round, call, own := byName["bizpack traced"], byName[extensions.OrderGuard], byName["look up the buyer"]
			if round == nil || call == nil || own == nil || len(byName) != 3 {
				t.Fatalf("spans %v, want the round trip, the call and the implementation's own", byName)
			}
			if trace.SpanID(round.ParentSpanId) != host || trace.SpanID(call.ParentSpanId) != trace.SpanID(round.SpanId) ||
				trace.SpanID(own.ParentSpanId) != trace.SpanID(call.SpanId) {
				t.Fatalf("parents: round trip %x (want %s), call %x, own %x", round.ParentSpanId, host, call.ParentSpanId, own.ParentSpanId)
			}
			service := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					service = kv.GetValue().GetStringValue()
				}
			}
			if service != "traced" {
				t.Errorf("resource service.name %q, want the bizpack's name", service)
			}
		})
	}
}
