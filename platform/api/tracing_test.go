package api_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tmf-platform/tmf/platform/store/storetest"
	"github.com/tmf-platform/tmf/platform/tracing"
)

// With tracing on, every request is a server span named by its route
// template, with its status, its problem code, the caller's kind and the
// identity; a request that arrives with a sampled traceparent continues
// its caller's trace; the log line names the trace.
func TestRequestSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	p, err := tracing.Start(context.Background(), tracing.Config{Sampler: tracing.SamplerParentBasedAlwaysOn},
		tracing.Options{Exporter: exp, BatchTimeout: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	e := newEnv(t, storetest.Open(t, "sqlite"))
	e.sku("topup-50", 4980, "topup", true, 100)
	alice := e.principal("alice", "buyer")

	const caller = "0af7651916cd43dd8448eb211c80319c"
	expect(t, e.do("POST", "/v1/orders", alice, `{"bizCode":"faulty","channel":"fail","items":[{"sku":"topup-50","quantity":1}]}`,
		"Idempotency-Key", "tr-1", "X-Request-Id", "tr-req-1", "traceparent", "00-"+caller+"-b7ad6b7169203331-01"), 502, "extension_failed")
	expect(t, e.do("GET", "/v1/orders?limit=0", alice, nil, "X-Request-Id", "tr-req-2"), 400, "invalid_limit")
	expect(t, e.do("GET", "/v1/nowhere", "", nil, "X-Request-Id", "tr-req-3"), 404, "")
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := map[string]map[string]string{}
	traces := map[string]string{}
	for _, s := range exp.GetSpans().Snapshots() {
		attrs := map[string]string{"name": s.Name()}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		if id := attrs["tmf.request_id"]; id != "" {
			spans[id] = attrs
			traces[id] = s.SpanContext().TraceID().String()
			if id == "tr-req-1" && (s.Parent().TraceID().String() != caller || !s.Parent().IsRemote()) {
				t.Errorf("the request did not continue its caller's trace: parent %v", s.Parent())
			}
		}
	}
	for id, want := range map[string]map[string]string{
		"tr-req-1": {"name": "POST /v1/orders", "http.route": "/v1/orders", "http.response.status_code": "502",
			"tmf.problem.code": "extension_failed", "tmf.principal.kind": "buyer", "tmf.identity": "faulty"},
		"tr-req-2": {"name": "GET /v1/orders", "http.response.status_code": "400", "tmf.problem.code": "invalid_limit"},
		"tr-req-3": {"name": "GET unmatched", "http.route": "unmatched", "tmf.principal.kind": "anonymous"},
	} {
		got := spans[id]
		for k, v := range want {
			if got[k] != v {
				t.Errorf("request %s: %s = %q, want %q (span %v)", id, k, got[k], v, got)
			}
		}
	}
	if traces["tr-req-1"] != caller {
		t.Errorf("trace %s, want the caller's %s", traces["tr-req-1"], caller)
	}
	logged := false
	for _, l := range e.logs.lines() {
		if l["msg"] == "request" && l["traceId"] == "tr-req-1" {
			logged = l["otelTraceId"] == caller
		}
	}
	if !logged {
		t.Error("the request log line does not name the OpenTelemetry trace")
	}
}
