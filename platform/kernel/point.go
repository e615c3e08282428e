package kernel

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tmf-platform/tmf/extensions"
)

// Reducer says how the implementations of a point combine.
type Reducer uint8

const (
	// ReduceFirst: the highest implementation that does not skip decides.
	ReduceFirst Reducer = iota + 1
	// ReduceAllPass: every implementation must allow; the first veto wins.
	ReduceAllPass
	// ReducePipeline: each implementation transforms the output of the one
	// below it, starting from the platform default.
	ReducePipeline
	// ReduceCollect: every implementation runs and the results are gathered.
	ReduceCollect
)

func (r Reducer) String() string {
	switch r {
	case ReduceFirst:
		return "first"
	case ReduceAllPass:
		return "all-pass"
	case ReducePipeline:
		return "pipeline"
	case ReduceCollect:
		return "collect"
	}
	return fmt.Sprintf("reducer(%d)", r)
}

// Policy says what happens when an implementation fails: returns an error
// other than extensions.ErrSkip, panics, or answers after the deadline.
type Policy uint8

const (
	// Fail: the call fails with an *ExtensionError.
	Fail Policy = iota + 1
	// Fallback: the failing implementation's whole layer is left out and the
	// next layer down answers.
	Fallback
	// Skip: the failing implementation is left out.
	Skip
)

func (p Policy) String() string {
	switch p {
	case Fail:
		return "fail"
	case Fallback:
		return "fallback"
	case Skip:
		return "skip"
	}
	return fmt.Sprintf("policy(%d)", p)
}

// DefaultDeadline is the deadline of a point declared without one.
const DefaultDeadline = 100 * time.Millisecond

// Options are the properties of a point besides its name and types.
type Options struct {
	// Doc states the point's contract: when it is called, what an
	// implementation may return, what it must not do.
	Doc string
	// Policy applies when an implementation fails. Required.
	Policy Policy
	// Deadline of one implementation call; DefaultDeadline when zero.
	Deadline time.Duration
}

// Spec is the run-time description of a declared point.
type Spec struct {
	Name     string
	Doc      string
	Reducer  Reducer
	Policy   Policy
	Deadline time.Duration
	Request  reflect.Type
	Response reflect.Type
	id       int
	// adapt turns a func(context.Context, Req) (Resp, error) of the
	// point's types into its Func.
	adapt func(h any) (any, bool)
}

// Domain is the first segment of the point's name ("pricing" for
// "pricing.adjust").
func (s *Spec) Domain() string { return s.Name[:strings.IndexByte(s.Name, '.')] }

// Point is what every declared point is: something with a Spec.
type Point interface{ Spec() *Spec }

var (
	pointName = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
	nextID    atomic.Int64
)

// newSpec validates a declaration. A malformed declaration is a programming
// error in a package-level variable, so it panics like regexp.MustCompile.
func newSpec(name string, r Reducer, o Options, req, resp reflect.Type, adapt func(any) (any, bool)) *Spec {
	if !pointName.MatchString(name) {
		panic(fmt.Sprintf("kernel: point name %q must be namespaced lowercase like \"pricing.adjust\"", name))
	}
	if o.Policy < Fail || o.Policy > Skip {
		panic(fmt.Sprintf("kernel: point %s: a failure policy is required", name))
	}
	if o.Deadline < 0 {
		panic(fmt.Sprintf("kernel: point %s: negative deadline", name))
	}
	if o.Deadline == 0 {
		o.Deadline = DefaultDeadline
	}
	return &Spec{Name: name, Doc: o.Doc, Reducer: r, Policy: o.Policy, Deadline: o.Deadline,
		Request: req, Response: resp, id: int(nextID.Add(1)), adapt: adapt}
}

// Func is the shape of every implementation: a request in, a response or an
// error out. Returning extensions.ErrSkip means "does not apply".
type Func[Req, Resp any] func(ctx context.Context, req Req) (Resp, error)

// Implementation is a named implementation of one point, ready to register.
// Build it with the point's Impl or Factory method; the result carries the
// point's types, so it cannot be bound to a point of other types.
type Implementation struct {
	// Name is unique in a Registry, e.g. "pricing.list-price" or
	// "b2b-distribution.tier-price".
	Name string
	// Point is the spec of the point it implements.
	Point *Spec
	// Version is reported in traces and metrics.
	Version string
	// Doc says what the implementation does.
	Doc string
	// Isolated implementations run on their own goroutine with a context
	// that expires at the point's deadline.
	Isolated bool
	// build returns a Func[Req, Resp] of the point's types for the binding's
	// arguments.
	build func(args json.RawMessage) (any, error)
	// remote, when set, serves the implementation out of process.
	remote Remote
}

// WithVersion returns a copy with the version set.
func (i Implementation) WithVersion(v string) Implementation { i.Version = v; return i }

// WithDoc returns a copy with the doc set.
func (i Implementation) WithDoc(d string) Implementation { i.Doc = d; return i }

// Isolate returns a copy that runs isolated (see Implementation.Isolated).
func (i Implementation) Isolate() Implementation { i.Isolated = true; return i }

func fixed[Req, Resp any](name string, fn Func[Req, Resp]) func(json.RawMessage) (any, error) {
	if fn == nil {
		panic(fmt.Sprintf("kernel: implementation %s: nil func", name))
	}
	return func(args json.RawMessage) (any, error) {
		if len(args) > 0 && string(args) != "null" && string(args) != "{}" {
			return nil, fmt.Errorf("implementation %s takes no arguments", name)
		}
		return fn, nil
	}
}

func factory[Req, Resp any](f func(args json.RawMessage) (Func[Req, Resp], error)) func(json.RawMessage) (any, error) {
	return func(args json.RawMessage) (any, error) {
		fn, err := f(args)
		if err != nil {
			return nil, err
		}
		if fn == nil {
			return nil, fmt.Errorf("factory returned a nil func")
		}
		return fn, nil
	}
}

// DecodeArgs decodes a binding's JSON arguments strictly: unknown fields and
// trailing data are an error. Empty arguments leave v as it is, so scalar
// defaults may be set first; do not preset maps or slices (decoding merges
// into a map and reuses a slice's backing array), apply their defaults after
// decoding instead. Field names match case-insensitively, as in
// encoding/json.
func DecodeArgs(args json.RawMessage, v any) error {
	if len(args) == 0 || string(args) == "null" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(args)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("arguments: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("arguments: trailing data")
	}
	return nil
}

// FirstPoint is a point whose highest non-skipping implementation decides.
type FirstPoint[Req, Resp any] struct{ spec *Spec }

// DeclareFirst declares a "first" point. It panics on a malformed name or a
// missing policy.
func DeclareFirst[Req, Resp any](name string, o Options) *FirstPoint[Req, Resp] {
	return &FirstPoint[Req, Resp]{newSpec(name, ReduceFirst, o, typeOf[Req](), typeOf[Resp](), adaptFunc[Req, Resp])}
}

// Spec describes the point.
func (p *FirstPoint[Req, Resp]) Spec() *Spec { return p.spec }

// Impl makes an implementation that takes no arguments.
func (p *FirstPoint[Req, Resp]) Impl(name string, fn Func[Req, Resp]) Implementation {
	return Implementation{Name: name, Point: p.spec, build: fixed(name, fn)}
}

// Factory makes an implementation configured by each binding's arguments.
func (p *FirstPoint[Req, Resp]) Factory(name string, f func(args json.RawMessage) (Func[Req, Resp], error)) Implementation {
	return Implementation{Name: name, Point: p.spec, build: factory(f)}
}

// AllPassPoint is a point at which every implementation must allow.
// Implementations answer with an extensions.Verdict.
type AllPassPoint[Req any] struct{ spec *Spec }

// DeclareAllPass declares an "all-pass" point.
func DeclareAllPass[Req any](name string, o Options) *AllPassPoint[Req] {
	return &AllPassPoint[Req]{newSpec(name, ReduceAllPass, o, typeOf[Req](), typeOf[extensions.Verdict](), adaptFunc[Req, extensions.Verdict])}
}

// Spec describes the point.
func (p *AllPassPoint[Req]) Spec() *Spec { return p.spec }

// Impl makes an implementation that takes no arguments.
func (p *AllPassPoint[Req]) Impl(name string, fn Func[Req, extensions.Verdict]) Implementation {
	return Implementation{Name: name, Point: p.spec, build: fixed(name, fn)}
}

// Factory makes an implementation configured by each binding's arguments.
func (p *AllPassPoint[Req]) Factory(name string, f func(args json.RawMessage) (Func[Req, extensions.Verdict], error)) Implementation {
	return Implementation{Name: name, Point: p.spec, build: factory(f)}
}

// PipelinePoint is a point whose implementations transform a value in turn,
// from the platform default up to the identity's bizpack.
type PipelinePoint[T any] struct{ spec *Spec }

// DeclarePipeline declares a "pipeline" point.
func DeclarePipeline[T any](name string, o Options) *PipelinePoint[T] {
	return &PipelinePoint[T]{newSpec(name, ReducePipeline, o, typeOf[T](), typeOf[T](), adaptFunc[T, T])}
}

// Spec describes the point.
func (p *PipelinePoint[T]) Spec() *Spec { return p.spec }

// Impl makes an implementation that takes no arguments.
func (p *PipelinePoint[T]) Impl(name string, fn Func[T, T]) Implementation {
	return Implementation{Name: name, Point: p.spec, build: fixed(name, fn)}
}

// Factory makes an implementation configured by each binding's arguments.
func (p *PipelinePoint[T]) Factory(name string, f func(args json.RawMessage) (Func[T, T], error)) Implementation {
	return Implementation{Name: name, Point: p.spec, build: factory(f)}
}

// CollectPoint is a point whose implementations all run; the results are
// gathered, highest layer first.
type CollectPoint[Req, Resp any] struct{ spec *Spec }

// DeclareCollect declares a "collect" point.
func DeclareCollect[Req, Resp any](name string, o Options) *CollectPoint[Req, Resp] {
	return &CollectPoint[Req, Resp]{newSpec(name, ReduceCollect, o, typeOf[Req](), typeOf[Resp](), adaptFunc[Req, Resp])}
}

// Spec describes the point.
func (p *CollectPoint[Req, Resp]) Spec() *Spec { return p.spec }

// Impl makes an implementation that takes no arguments.
func (p *CollectPoint[Req, Resp]) Impl(name string, fn Func[Req, Resp]) Implementation {
	return Implementation{Name: name, Point: p.spec, build: fixed(name, fn)}
}

// Factory makes an implementation configured by each binding's arguments.
func (p *CollectPoint[Req, Resp]) Factory(name string, f func(args json.RawMessage) (Func[Req, Resp], error)) Implementation {
	return Implementation{Name: name, Point: p.spec, build: factory(f)}
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

var (
	_ Point = (*FirstPoint[int, int])(nil)
	_ Point = (*AllPassPoint[int])(nil)
	_ Point = (*PipelinePoint[int])(nil)
	_ Point = (*CollectPoint[int, int])(nil)
)
