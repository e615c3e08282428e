package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/identity"
)

// fixture is a kernel over test points, with a private metrics registry.
type fixture struct {
	t       *testing.T
	cat     *Catalogue
	reg     *Registry
	k       *Kernel
	metrics *prometheus.Registry
}

func newFixture(t *testing.T, points ...Point) *fixture {
	t.Helper()
	f := &fixture{t: t, cat: NewCatalogue(), metrics: prometheus.NewRegistry()}
	if err := f.cat.Add(points...); err != nil {
		t.Fatal(err)
	}
	f.reg = NewRegistry(f.cat)
	return f
}

// start builds the kernel once registrations are done.
func (f *fixture) start() *Kernel {
	f.t.Helper()
	k, err := New(f.cat, f.reg, WithRegisterer(f.metrics))
	if err != nil {
		f.t.Fatal(err)
	}
	f.k = k
	return k
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) apply(cfg Config) *PlanSet {
	f.t.Helper()
	set, err := f.k.Apply(cfg)
	if err != nil {
		f.t.Fatalf("apply: %v", err)
	}
	return set
}

func (f *fixture) begin(code identity.Code) *Operation {
	f.t.Helper()
	op, err := f.k.Begin(context.Background(), code)
	if err != nil {
		f.t.Fatalf("begin %s: %v", code, err)
	}
	return op
}

// counter reads tmf_extension_calls_total for one series.
func (f *fixture) counter(point, impl, outcome string) float64 {
	f.t.Helper()
	mfs, err := f.metrics.Gather()
	if err != nil {
		f.t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != "tmf_extension_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["point"] == point && labels["impl"] == impl && labels["outcome"] == outcome {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// answer is an implementation of a string → string point that returns its
// own name.
func answer(name string) Func[string, string] {
	return func(context.Context, string) (string, error) { return name, nil }
}

// appendName is a pipeline implementation that appends its name.
func appendName(name string) Func[string, string] {
	return func(_ context.Context, in string) (string, error) {
		if in == "" {
			return name, nil
		}
		return in + "," + name, nil
	}
}

func allow(context.Context, string) (extensions.Verdict, error) { return extensions.Allow(), nil }

func deny(code string) Func[string, extensions.Verdict] {
	return func(context.Context, string) (extensions.Verdict, error) {
		return extensions.Deny(code, "because "+code), nil
	}
}

func skip[Resp any](context.Context, string) (Resp, error) {
	var zero Resp
	return zero, extensions.ErrSkip
}

func product(name string, priority int, bindings ...Binding) Product {
	return Product{Name: name, Version: "1.0.0", Priority: priority, Bindings: bindings}
}

func bind(point, impl string) Binding { return Binding{Point: point, Impl: impl} }

func bindArgs(point, impl string, args any) Binding {
	b, err := json.Marshal(args)
	if err != nil {
		panic(err)
	}
	return Binding{Point: point, Impl: impl, Args: b}
}

func prio(p int) *int { return &p }

func products(names ...string) []ProductRef {
	out := make([]ProductRef, len(names))
	for i, n := range names {
		out[i] = ProductRef{Name: n}
	}
	return out
}

func traceString(op *Operation) string {
	var parts []string
	for _, r := range op.Trace() {
		parts = append(parts, fmt.Sprintf("%s/%s:%s", r.Layer, r.Impl, r.Outcome))
	}
	return strings.Join(parts, " ")
}

func asConfig(t *testing.T, err error) *ConfigError {
	t.Helper()
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError, got %T: %v", err, err)
	}
	return ce
}
