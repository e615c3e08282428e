package extensions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Bizpack is a bizpack under construction: its manifest and the
// implementations of its points. Build one with New, add implementations
// with Implement, and hand it to plugin.Serve in main (or to the harness in
// a test).
type Bizpack struct {
	manifest Manifest
	handlers map[string]handler
	problems []string
}

type handler struct {
	fn     any // func(context.Context, Req) (Resp, error)
	invoke func(ctx context.Context, req []byte) ([]byte, error)
}

// New starts a bizpack with its manifest.
func New(m Manifest) *Bizpack {
	return &Bizpack{manifest: m, handlers: map[string]handler{}}
}

// Implement makes fn the bizpack's implementation of point. The types of fn
// must be the point's (see Points); a mismatch, an unknown point or a point
// implemented twice is recorded and reported by Err, by plugin.Serve and by
// the harness.
//
// fn must be safe for concurrent use: the platform calls it for many orders
// at once. It must honour ctx, which expires at the point's deadline, and it
// must not have side effects the platform does not know of: the platform may
// call it speculatively, before it is sure it will use the answer, and may
// call it again with the same request. Return ErrSkip when the point does
// not apply.
func Implement[Req, Resp any](b *Bizpack, point string, fn func(context.Context, Req) (Resp, error)) {
	want, ok := pointTypes[point]
	req, resp := reflect.TypeFor[Req](), reflect.TypeFor[Resp]()
	switch {
	case fn == nil:
		b.problems = append(b.problems, fmt.Sprintf("Implement(%s): nil func", point))
	case !ok:
		b.problems = append(b.problems, fmt.Sprintf("Implement(%s): unknown point", point))
	case want[0] != req || want[1] != resp:
		b.problems = append(b.problems, fmt.Sprintf("Implement(%s): the point takes %s and answers %s, the func takes %s and answers %s",
			point, want[0].Name(), want[1].Name(), req, resp))
	default:
		if _, dup := b.handlers[point]; dup {
			b.problems = append(b.problems, fmt.Sprintf("Implement(%s): implemented twice", point))
			return
		}
		b.handlers[point] = handler{fn: fn, invoke: func(ctx context.Context, data []byte) ([]byte, error) {
			var in Req
			if err := json.Unmarshal(data, &in); err != nil {
				return nil, fmt.Errorf("%s: decoding the request: %w", point, err)
			}
			out, err := fn(ctx, in)
			if err != nil {
				return nil, err
			}
			return json.Marshal(out)
		}}
	}
}

// Manifest returns the manifest as the platform sees it: the declared one
// with each point's types and the protocol version filled in.
func (b *Bizpack) Manifest() Manifest {
	m := b.manifest
	m.Points = make([]PointTypes, len(b.manifest.Points))
	for i, p := range b.manifest.Points {
		if t, ok := TypesOf(p.Point); ok {
			if p.Request == "" {
				p.Request = t.Request
			}
			if p.Response == "" {
				p.Response = t.Response
			}
		}
		m.Points[i] = p
	}
	m.Protocol = fmt.Sprintf("%d.%d", ProtocolMajor, ProtocolMinor)
	return m
}

// Err reports every problem of the bizpack: its manifest's (see
// Manifest.Check), its registrations', and any difference between the
// points the manifest declares and those implemented.
func (b *Bizpack) Err() error {
	problems := slices.Clone(b.problems)
	var me *ManifestError
	if err := b.Manifest().Check(); errors.As(err, &me) {
		problems = append(problems, me.Problems...)
	}
	declared := map[string]bool{}
	for _, p := range b.manifest.Points {
		declared[p.Point] = true
		if _, ok := b.handlers[p.Point]; !ok && pointTypes[p.Point] != [2]reflect.Type{} {
			problems = append(problems, fmt.Sprintf("the manifest declares %s but nothing implements it", p.Point))
		}
	}
	var undeclared []string
	for p := range b.handlers {
		if !declared[p] {
			undeclared = append(undeclared, p)
		}
	}
	sort.Strings(undeclared)
	for _, p := range undeclared {
		problems = append(problems, fmt.Sprintf("%s is implemented but the manifest does not declare it", p))
	}
	if len(problems) == 0 {
		return nil
	}
	return &ManifestError{Bizpack: b.manifest.Name, Problems: problems}
}

// Handler returns the implementation of point as the func given to
// Implement, for a host that runs the bizpack in its own process.
func (b *Bizpack) Handler(point string) (any, bool) {
	h, ok := b.handlers[point]
	return h.fn, ok
}

// InvokeJSON calls the implementation of point with a JSON request and
// returns its JSON response: what the plugin transport does with each
// call. An implementation that returns ErrSkip makes InvokeJSON return
// ErrSkip. Panics are not recovered here.
func (b *Bizpack) InvokeJSON(ctx context.Context, point string, req []byte) ([]byte, error) {
	h, ok := b.handlers[point]
	if !ok {
		return nil, &UnknownPointError{Point: point, Bizpack: b.manifest.Name}
	}
	return h.invoke(ctx, req)
}

// UnknownPointError is a call of a point the bizpack does not implement.
type UnknownPointError struct{ Point, Bizpack string }

func (e *UnknownPointError) Error() string {
	return fmt.Sprintf("bizpack %s does not implement %s", e.Bizpack, e.Point)
}

// Implemented lists the points the bizpack implements, sorted.
func (b *Bizpack) Implemented() []string {
	out := make([]string, 0, len(b.handlers))
	for p := range b.handlers {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// String names the bizpack and its version.
func (b *Bizpack) String() string {
	return strings.TrimSpace(b.manifest.Name + " " + b.manifest.Version)
}
