package api_test

import (
	"io"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// The request log, the metrics and the problems of failures: refusals are
// logged with their code, extension failures do not leak their cause, and
// /metrics serves the API's and the kernel's series.
func TestObservability(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	e.sku("topup-50", 4980, "topup", true, 100)
	alice := e.principal("alice", "buyer")

	r := e.do("POST", "/v1/orders", alice, `{"bizCode":"faulty","channel":"fail","items":[{"sku":"topup-50","quantity":1}]}`,
		"Idempotency-Key", "obs-1", "X-Request-Id", "obs-trace-1")
	expect(t, r, 502, "extension_failed")
	p := r.json(t)
	if strings.Contains(string(r.raw), "backend is down") || p["impl"] != "faulty.validate" || p["point"] != "order.validate" ||
		p["traceId"] != "obs-trace-1" {
		t.Fatalf("extension failure answered %s", r)
	}
	// The key was released: the same key, now on a healthy channel, places the order.
	r = e.do("POST", "/v1/orders", alice, `{"bizCode":"faulty","channel":"fail","items":[{"sku":"topup-50","quantity":1}]}`,
		"Idempotency-Key", "obs-1")
	expect(t, r, 502, "extension_failed")
	expect(t, e.do("POST", "/v1/orders", alice, `{"bizCode":"faulty","items":[{"sku":"topup-50","quantity":1}]}`,
		"Idempotency-Key", "obs-1"), 201, "")

	// A body of unknown length is cut at the limit too.
	chunked := io.MultiReader(strings.NewReader(`{"items":[{"sku":"topup-50","quantity":1}],"paymentMethod":"`),
		strings.NewReader(strings.Repeat("a", 1<<20)), strings.NewReader(`"}`))
	expect(t, e.do("POST", "/v1/orders", alice, chunked, "Idempotency-Key", "obs-2"), 413, "body_too_large")

	r = e.do("GET", "/v1/orders?limit=0", alice, nil, "X-Request-Id", "obs-trace-2")
	expect(t, r, 400, "invalid_limit")
	r = e.do("GET", "/healthz", "", nil, "X-Request-Id", "bad id with spaces")
	if id := r.header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Fatalf("X-Request-Id %q for an unusable one", id)
	}

	lines := map[string]map[string]any{}
	for _, l := range e.logs.lines() {
		if l["msg"] == "request" {
			lines[l["traceId"].(string)] = l
		}
	}
	failed, refused := lines["obs-trace-1"], lines["obs-trace-2"]
	if failed["status"] != float64(502) || failed["outcome"] != "error" || failed["code"] != "extension_failed" ||
		failed["level"] != "ERROR" || failed["principal"] != "alice" || failed["bizCode"] != "faulty" || failed["duration"] == nil {
		t.Fatalf("log of a failure: %v", failed)
	}
	if refused["status"] != float64(400) || refused["outcome"] != "refused" || refused["code"] != "invalid_limit" || refused["level"] != "INFO" {
		t.Fatalf("log of a refusal: %v", refused)
	}
	var cause bool
	for _, l := range e.logs.lines() {
		if l["msg"] == "request failed" && strings.Contains(l["error"].(string), "backend is down") {
			cause = true
		}
	}
	if !cause {
		t.Fatal("the cause of the 502 was not logged")
	}

	r = e.do("GET", "/metrics", "", nil)
	expect(t, r, 200, "")
	for _, want := range []string{
		`tmf_api_requests_total{method="POST",route="/v1/orders",status="502"} 2`,
		`tmf_api_requests_total{method="GET",route="/v1/orders",status="400"} 1`,
		`tmf_api_request_duration_seconds_bucket{method="POST",route="/v1/orders"`,
		`tmf_extension_calls_total{`,
	} {
		if !strings.Contains(string(r.raw), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	expect(t, e.do("GET", "/no/such/path", "", nil), 404, "not_found")
	if r := e.do("GET", "/metrics", "", nil); !strings.Contains(string(r.raw), `route="unmatched",status="404"`) {
		t.Error("unmatched routes are not counted under one label")
	}

	// Made-up methods and paths add no series: their labels come from a bounded set.
	before := strings.Count(string(e.do("GET", "/metrics", "", nil).raw), "tmf_api_requests_total{")
	for _, m := range []string{"XABC12", "XABC13", "FOO"} {
		e.do(m, "/v1/orders", alice, nil)
		e.do(m, "/no/such/"+m, "", nil)
	}
	r = e.do("GET", "/metrics", "", nil)
	if strings.Contains(string(r.raw), "XABC") || strings.Contains(string(r.raw), "/no/such/") {
		t.Errorf("/metrics carries a client's method or path as a label")
	}
	if !strings.Contains(string(r.raw), `tmf_api_requests_total{method="other",route="/v1/orders",status="405"} 3`) {
		t.Errorf("unknown methods are not counted as other")
	}
	if after := strings.Count(string(r.raw), "tmf_api_requests_total{"); after > before+3 {
		t.Errorf("made-up methods added %d series", after-before)
	}
}
