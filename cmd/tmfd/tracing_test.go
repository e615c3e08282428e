package main

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/events"
)

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes every
// ExportTraceServiceRequest posted to /v1/traces and keeps the spans with
// the service.name of their resource.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []receivedSpan
}

type receivedSpan struct {
	service string
	span    *tracepb.Span
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/v1/traces" || req.Method != http.MethodPost {
		http.NotFound(w, req)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var in coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, rs := range in.ResourceSpans {
		service := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				r.spans = append(r.spans, receivedSpan{service: service, span: sp})
			}
		}
	}
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// trace returns the spans received of one trace, by span id.
func (r *otlpReceiver) trace(traceID string) map[string]receivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]receivedSpan{}
	for _, s := range r.spans {
		if hex.EncodeToString(s.span.TraceId) == traceID {
			out[hex.EncodeToString(s.span.SpanId)] = s
		}
	}
	return out
}

func attrOf(sp *tracepb.Span, key string) string {
	for _, kv := range sp.Attributes {
		if kv.Key == key {
			if v := kv.GetValue(); v.GetStringValue() != "" {
				return v.GetStringValue()
			}
			return fmt.Sprint(kv.GetValue().GetIntValue())
		}
	}
	return ""
}

// One order placed through a bizpack, with tracing on, is one trace at
// the collector: the request's span at its root; under it the extension
// spans (the bizpack's among them), the host's round trip to the bizpack
// and, below that, the spans the bizpack process recorded and handed back;
// and the database transaction that wrote the order. The order's trace
// names the trace, and the order.placed event carries it in traceparent.
func TestOneOrderIsOneTraceAcrossBizpackAndEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tmfd and a bizpack")
	}
	dir := t.TempDir()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	bin := filepath.Join(dir, "tmfd")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building tmfd: %v\n%s", err, out)
	}
	pack := filepath.Join(dir, "flash-sale")
	if out, err := exec.Command(goBin, "build", "-o", pack, "../../bizpacks/flash-sale").CombinedOutput(); err != nil {
		t.Fatalf("building flash-sale: %v\n%s", err, out)
	}
	sum, err := bizpackhost.Checksum(pack)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "tmfd.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`revision: 1
identities:
  - code: retail
    products: [{name: standard-retail}]
  - code: retail.flash
    name: Flash sale
    bizpacks: [{name: flash-sale}]
rules:
  - identity: retail
  - identity: retail.flash
    channel: flash
bizpacks:
  - name: flash-sale
    path: ./flash-sale
    sha256: %s
tracing:
  sampler: always_on
  serviceName: tmfd-accept
`, sum)), 0o600); err != nil {
		t.Fatal(err)
	}

	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	var hookMu sync.Mutex
	var delivered []events.CloudEvent
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ce events.CloudEvent
		if err := json.NewDecoder(r.Body).Decode(&ce); err == nil {
			hookMu.Lock()
			delivered = append(delivered, ce)
			hookMu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()

	// The endpoint and protocol by flag, the sampler and service name from
	// the file; a short batch so the test does not wait 5s per export.
	t.Setenv("TMF_TRACE_BATCH_TIMEOUT", "200ms")
	p := startTmfd(t, bin, dir, "traced", filepath.Join(dir, "tmf.db"), cfg, true,
		"--otlp-endpoint", collector.URL, "--otlp-protocol", "http", "--webhooks-allow-private")

	status, wh := apiCall(t, p.base, crashAdmin, "POST", "/v1/admin/webhooks",
		fmt.Sprintf(`{"url":%q,"eventTypes":["order.placed"]}`, hook.URL))
	if status != http.StatusCreated {
		t.Fatalf("register the webhook: %d %v", status, wh)
	}
	status, o := apiCall(t, p.base, "demo-alice", "POST", "/v1/orders",
		`{"bizCode":"retail.flash","channel":"flash","items":[{"sku":"phone-x","quantity":1}],"shippingAddress":{"region":"east"}}`,
		"Idempotency-Key", "traced-1")
	if status != http.StatusCreated {
		t.Fatalf("place the order: %d %v", status, o)
	}
	orderID, _ := o["id"].(string)

	// The order's extension trace names its OpenTelemetry trace.
	status, tr := apiCall(t, p.base, crashAdmin, "GET", "/v1/orders/"+orderID+"/trace", "")
	if status != http.StatusOK {
		t.Fatalf("order trace: %d %v", status, tr)
	}
	traceID := ""
	calls, _ := tr["calls"].([]any)
	for _, c := range calls {
		id, _ := c.(map[string]any)["traceId"].(string)
		if id == "" || traceID != "" && id != traceID {
			t.Fatalf("order trace calls carry trace ids %q and %q: want one, on every call: %v", traceID, id, calls)
		}
		traceID = id
	}
	if len(traceID) != 32 {
		t.Fatalf("order trace without a trace id: %v", tr)
	}

	type want struct {
		name string
		ok   func(receivedSpan) bool
	}
	wants := []want{
		{"the request span", func(s receivedSpan) bool {
			return s.span.Name == "POST /v1/orders" && s.span.Kind == tracepb.Span_SPAN_KIND_SERVER && len(s.span.ParentSpanId) == 0 &&
				attrOf(s.span, "http.response.status_code") == "201" && attrOf(s.span, "tmf.principal.kind") == "buyer" &&
				s.service == "tmfd-accept"
		}},
		{"a platform extension span", func(s receivedSpan) bool {
			return attrOf(s.span, "tmf.extension.layer") == "default" && attrOf(s.span, "tmf.extension.outcome") != ""
		}},
		{"the bizpack's extension span", func(s receivedSpan) bool {
			return s.service == "tmfd-accept" && attrOf(s.span, "tmf.extension.layer") == "bizpack" &&
				attrOf(s.span, "tmf.bizpack.name") == "flash-sale" && attrOf(s.span, "tmf.extension.outcome") != ""
		}},
		{"the host's round trip to the bizpack", func(s receivedSpan) bool {
			return s.span.Kind == tracepb.Span_SPAN_KIND_CLIENT && s.span.Name == "bizpack flash-sale" && attrOf(s.span, "tmf.bizpack.pid") != "0"
		}},
		{"the bizpack process's span", func(s receivedSpan) bool {
			return s.service == "flash-sale" && s.span.Kind == tracepb.Span_SPAN_KIND_SERVER && attrOf(s.span, "tmf.bizpack.version") != ""
		}},
		{"a call span inside the bizpack", func(s receivedSpan) bool {
			return s.service == "flash-sale" && attrOf(s.span, "tmf.extension.point") != "" && attrOf(s.span, "tmf.extension.outcome") != ""
		}},
		{"the database transaction that wrote the order", func(s receivedSpan) bool {
			return s.span.Name == "db transaction" && attrOf(s.span, "db.system.name") == "sqlite" && attrOf(s.span, "tmf.db.statements") >= "1"
		}},
	}
	var spans map[string]receivedSpan
	found := make([]receivedSpan, len(wants))
	deadline := time.Now().Add(60 * time.Second)
	for {
		spans = recv.trace(traceID)
		missing := []string{}
		for i, w := range wants {
			found[i] = receivedSpan{}
			for _, s := range spans {
				if w.ok(s) {
					found[i] = s
					break
				}
			}
			if found[i].span == nil {
				missing = append(missing, w.name)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s the collector holds %d spans of trace %s, missing %s:\n%s", len(spans), traceID,
				strings.Join(missing, ", "), describeSpans(spans))
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Logf("trace %s:\n%s", traceID, describeSpans(spans))
	// Parent links: every span of the trace hangs, through spans of the
	// trace, from the request's span.
	root := hex.EncodeToString(found[0].span.SpanId)
	ancestors := func(s receivedSpan) []string {
		var chain []string
		for cur := s; len(cur.span.ParentSpanId) > 0; {
			pid := hex.EncodeToString(cur.span.ParentSpanId)
			chain = append(chain, pid)
			next, ok := spans[pid]
			if !ok || len(chain) > 64 {
				break
			}
			cur = next
		}
		return chain
	}
	for id, s := range spans {
		if id == root {
			continue
		}
		chain := ancestors(s)
		if len(chain) == 0 || chain[len(chain)-1] != root {
			t.Errorf("span %q (%s) does not hang from the request span: parents %v\n%s", s.span.Name, s.service, chain, describeSpans(spans))
		}
	}
	// The bizpack's span is the child of the host's round trip; the call
	// span the child of the bizpack's span.
	if got, want := hex.EncodeToString(found[4].span.ParentSpanId), hex.EncodeToString(found[3].span.SpanId); got != want {
		t.Errorf("the bizpack's span has parent %s, want the round trip %s", got, want)
	}
	bizpackSpans := map[string]bool{}
	for id, s := range spans {
		if s.service == "flash-sale" && s.span.Kind != tracepb.Span_SPAN_KIND_SERVER {
			bizpackSpans[id] = true
			if p := spans[hex.EncodeToString(s.span.ParentSpanId)]; p.service != "flash-sale" {
				t.Errorf("the bizpack's call span %q hangs from %q of %s, not from the bizpack's span", s.span.Name, p.span.GetName(), p.service)
			}
		}
	}
	// The bizpack's spans lie within the host's round trip.
	rt := found[3].span
	for id := range bizpackSpans {
		s := spans[id].span
		if s.StartTimeUnixNano < rt.StartTimeUnixNano || s.EndTimeUnixNano > rt.EndTimeUnixNano {
			t.Errorf("bizpack span %q [%d, %d] outside the round trip [%d, %d]", s.Name, s.StartTimeUnixNano, s.EndTimeUnixNano,
				rt.StartTimeUnixNano, rt.EndTimeUnixNano)
		}
	}

	// The order.placed event, as the webhook received it, carries the
	// trace in traceparent.
	deadline = time.Now().Add(60 * time.Second)
	for {
		hookMu.Lock()
		var ce *events.CloudEvent
		for i := range delivered {
			if delivered[i].Type == "order.placed" && delivered[i].Subject == orderID {
				ce = &delivered[i]
			}
		}
		hookMu.Unlock()
		if ce != nil {
			parts := strings.Split(ce.TraceParent, "-")
			if len(parts) != 4 || parts[0] != "00" || parts[1] != traceID || parts[3] != "01" {
				t.Fatalf("order.placed traceparent %q, want 00-%s-<span>-01", ce.TraceParent, traceID)
			}
			if _, ok := spans[parts[2]]; !ok {
				t.Errorf("order.placed traceparent names span %s, which is not in the trace", parts[2])
			} else if spans[parts[2]].span.Name != "db transaction" {
				t.Errorf("order.placed traceparent names span %q, want the transaction that wrote it", spans[parts[2]].span.Name)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no order.placed event for %s reached the webhook within 60s", orderID)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func describeSpans(spans map[string]receivedSpan) string {
	var b bytes.Buffer
	for id, s := range spans {
		fmt.Fprintf(&b, "  %s %-12s %-40q kind=%s parent=%x", id, s.service, s.span.Name, s.span.Kind, s.span.ParentSpanId)
		for _, kv := range s.span.Attributes {
			fmt.Fprintf(&b, " %s=%v", kv.Key, kv.GetValue())
		}
		b.WriteString("\n")
	}
	return b.String()
}
