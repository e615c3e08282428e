package kernel

import (
	"context"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
)

var (
	benchFirst = DeclareFirst[int, int]("bench.first", Options{Policy: Fallback})
	benchGate  = DeclareAllPass[int]("bench.gate", Options{Policy: Fail})
	benchPipe  = DeclarePipeline[int]("bench.pipe", Options{Policy: Fail})
)

// benchKernel is a kernel whose identity "shop" enables one product that
// binds an implementation at every bench point, above the platform default,
// with metrics on, as in production.
func benchKernel(b *testing.B) *Operation {
	b.Helper()
	cat := NewCatalogue()
	if err := cat.Add(benchFirst, benchGate, benchPipe); err != nil {
		b.Fatal(err)
	}
	reg := NewRegistry(cat)
	inc := func(_ context.Context, n int) (int, error) { return n + 1, nil }
	ok := func(context.Context, int) (extensions.Verdict, error) { return extensions.Allow(), nil }
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(reg.SetDefault(benchFirst.Impl("first.d", inc), benchGate.Impl("gate.d", ok), benchPipe.Impl("pipe.d", inc)))
	must(reg.Register(benchFirst.Impl("first.p", inc), benchGate.Impl("gate.p1", ok), benchGate.Impl("gate.p2", ok),
		benchPipe.Impl("pipe.p1", inc), benchPipe.Impl("pipe.p2", inc)))
	must(reg.AddProduct(Product{Name: "p", Priority: 1, Bindings: []Binding{
		{Point: "bench.first", Impl: "first.p"},
		{Point: "bench.gate", Impl: "gate.p1", Priority: prio(2)}, {Point: "bench.gate", Impl: "gate.p2"},
		{Point: "bench.pipe", Impl: "pipe.p1", Priority: prio(2)}, {Point: "bench.pipe", Impl: "pipe.p2"},
	}}))
	k, err := New(cat, reg)
	must(err)
	_, err = k.Apply(Config{Revision: 1, Identities: []IdentitySpec{{Code: "shop", Products: []ProductRef{{Name: "p"}}}}})
	must(err)
	op, err := k.Begin(context.Background(), "shop")
	must(err)
	return op
}

// The trace is drained every 1,024 calls so that its growth is not measured:
// an order makes a few dozen calls, not millions.
const drainEvery = 1024

func BenchmarkDispatchFirst(b *testing.B) {
	op := benchKernel(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := benchFirst.Call(op, i); err != nil {
			b.Fatal(err)
		}
		if i%drainEvery == 0 {
			op.ClearTrace()
		}
	}
}

func BenchmarkDispatchAllPass3(b *testing.B) {
	op := benchKernel(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if d, err := benchGate.Call(op, i); err != nil || !d.Allowed {
			b.Fatal(d, err)
		}
		if i%drainEvery == 0 {
			op.ClearTrace()
		}
	}
}

func BenchmarkDispatchPipeline3(b *testing.B) {
	op := benchKernel(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if n, err := benchPipe.Call(op, i); err != nil || n != i+3 {
			b.Fatal(n, err)
		}
		if i%drainEvery == 0 {
			op.ClearTrace()
		}
	}
}

// BenchmarkDispatchFirstIsolated is the cost of the goroutine and deadline
// that an isolated (bizpack) implementation adds before any RPC.
func BenchmarkDispatchFirstIsolated(b *testing.B) {
	cat := NewCatalogue()
	point := DeclareFirst[int, int]("bench.isolated", Options{Policy: Fail})
	if err := cat.Add(point); err != nil {
		b.Fatal(err)
	}
	reg := NewRegistry(cat)
	if err := reg.SetDefault(point.Impl("iso", func(_ context.Context, n int) (int, error) { return n, nil }).Isolate()); err != nil {
		b.Fatal(err)
	}
	k, err := New(cat, reg)
	if err != nil {
		b.Fatal(err)
	}
	op, _ := k.Begin(context.Background(), "")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := point.Call(op, i); err != nil {
			b.Fatal(err)
		}
		if i%drainEvery == 0 {
			op.ClearTrace()
		}
	}
}

// BenchmarkBegin is the per-operation cost: the operation and its trace.
func BenchmarkBegin(b *testing.B) {
	cat := NewCatalogue()
	_ = cat.Add(benchFirst)
	k, _ := New(cat, NewRegistry(cat))
	b.ReportAllocs()
	for b.Loop() {
		op, err := k.Begin(context.Background(), "")
		if err != nil {
			b.Fatal(err)
		}
		sinkOp = op // an operation outlives Begin in real use
	}
}

var sinkOp *Operation
