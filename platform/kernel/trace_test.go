package kernel

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestTraceAndMetricsOfEveryCall(t *testing.T) {
	t.Parallel()
	f := layered(t)
	f.apply(Config{Revision: 3, Identities: []IdentitySpec{
		{Code: "packed", Products: products("low", "high", "skipper"), Bizpacks: []BizpackRef{{Name: "y"}}},
	}})
	op := f.begin("packed")
	for range 3 {
		if _, err := pipe.Call(op, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pick.Call(op, ""); err != nil {
		t.Fatal(err)
	}
	tr := op.Trace()
	if len(tr) != 10 {
		t.Fatalf("trace has %d records: %s", len(tr), traceString(op))
	}
	last := tr[len(tr)-1]
	want := Record{Point: "test.pick", Impl: "y.pick", Layer: LayerBizpack, Source: "y", Version: "0.1.0", Origin: "packed", Outcome: OutcomeOK}
	last.Duration = 0
	if last != want {
		t.Fatalf("last record = %+v, want %+v", last, want)
	}
	for _, r := range tr {
		if r.Duration <= 0 {
			t.Fatalf("record without a duration: %+v", r)
		}
	}
	if n := f.counter("test.pipe", "pipe.high", "ok"); n != 3 {
		t.Fatalf("pipe.high ok = %v", n)
	}
	// Every series of a compiled plan exists before its first call, and the
	// histogram counted each call.
	if n := f.counter("test.collect", "coll.low", "ok"); n != 0 {
		t.Fatalf("coll.low = %v", n)
	}
	mfs, err := f.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var samples uint64
	for _, mf := range mfs {
		if mf.GetName() != "tmf_extension_call_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "impl" && l.GetValue() == "pipe.low" {
					samples += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if samples != 3 {
		t.Fatalf("pipe.low latency samples = %d", samples)
	}
	var text strings.Builder
	for _, mf := range mfs {
		text.WriteString(mf.GetName() + "\n")
	}
	if !strings.Contains(text.String(), "tmf_extension_calls_total") {
		t.Fatalf("metrics: %s", text.String())
	}
	b, err := json.Marshal(tr[len(tr)-1])
	if err != nil || !strings.Contains(string(b), `"layer":"bizpack"`) || !strings.Contains(string(b), `"outcome":"ok"`) {
		t.Fatalf("record JSON %s, %v", b, err)
	}
	failed := Record{Point: "p", Outcome: OutcomeError, Err: errors.New("boom")}
	if b, _ := json.Marshal(failed); !strings.Contains(string(b), `"error":"boom"`) {
		t.Fatalf("failed record JSON %s", b)
	}
	op.ClearTrace()
	if len(op.Trace()) != 0 {
		t.Fatal("ClearTrace kept records")
	}
}

func TestTwoKernelsShareOneRegisterer(t *testing.T) {
	t.Parallel()
	f := layered(t)
	if _, err := New(f.cat, f.reg, WithRegisterer(f.metrics)); err != nil {
		t.Fatalf("a second kernel on the same registerer: %v", err)
	}
	if _, err := New(f.cat, f.reg, WithoutMetrics()); err != nil {
		t.Fatal(err)
	}
}
