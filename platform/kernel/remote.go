package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/tracing"
)

// Remote runs the implementations of a bizpack that lives in another
// process. The plugin host gives one per running bizpack version; the
// kernel encodes requests as JSON and decodes answers, and applies the
// point's reducer and failure policy to the outcomes, as for any other
// implementation.
type Remote interface {
	// Invoke runs calls in one round trip and answers each, in order,
	// whatever happens: a transport failure is an OutcomeError result for
	// every call. Invoke must return by ctx's deadline.
	Invoke(ctx context.Context, calls []RemoteCall) []RemoteResult
}

// RemoteCall is one call of a batch sent to a Remote.
type RemoteCall struct {
	Point    string
	Identity string
	// Request is the point's request as JSON.
	Request []byte
	// Deadline is the point's deadline for the call.
	Deadline time.Duration
}

// RemoteResult answers one RemoteCall. Outcome is OutcomeOK (Response holds
// the JSON answer), OutcomeSkip, OutcomeError, OutcomePanic or
// OutcomeTimeout (Err says what happened).
type RemoteResult struct {
	Outcome  Outcome
	Response []byte
	Err      error
}

// RemoteImpl makes the implementation of the point that a remote bizpack
// serves. It runs wherever the bizpack's layer puts it and is judged by the
// outcomes the Remote reports.
func (s *Spec) RemoteImpl(name string, r Remote) Implementation {
	return Implementation{Name: name, Point: s, remote: r,
		build: func(json.RawMessage) (any, error) { return remoteFn{}, nil }}
}

// remoteFn stands in the compiled plan for a remote implementation's func:
// invoke goes to the Remote instead.
type remoteFn struct{}

// HandlerImpl makes an implementation of the point from a func of the
// point's types, as given to extensions.Implement: what runs a bizpack
// inside the server's process (tests, benchmarks, the harness's
// in-process runner). It is an error if h has other types.
func (s *Spec) HandlerImpl(name string, h any) (Implementation, error) {
	fn, ok := s.adapt(h)
	if !ok {
		return Implementation{}, fmt.Errorf("implementation %s of %s: %T is not a func(context.Context, %s) (%s, error)",
			name, s.Name, h, s.Request, s.Response)
	}
	return Implementation{Name: name, Point: s, build: func(args json.RawMessage) (any, error) {
		if len(args) > 0 && string(args) != "null" && string(args) != "{}" {
			return nil, fmt.Errorf("implementation %s takes no arguments", name)
		}
		return fn, nil
	}}, nil
}

func adaptFunc[Req, Resp any](h any) (any, bool) {
	switch f := h.(type) {
	case func(context.Context, Req) (Resp, error):
		return Func[Req, Resp](f), true
	case Func[Req, Resp]:
		return f, true
	}
	return nil, false
}

// memoEntry is the prefetched answer of one remote implementation to one
// encoded request.
type memoEntry struct {
	req    []byte
	result RemoteResult
	took   time.Duration
	// from is the span of the Prefetch that obtained it (tracing).
	from trace.SpanContext
}

// Pending is a point call that Prefetch sends ahead; build it with the
// point's Ahead method.
type Pending struct {
	spec  *Spec
	calls func(op *Operation, cp *compiledPoint) []pendingCall
}

type pendingCall struct {
	ci  *compiledImpl
	req []byte
}

// Ahead prepares a Prefetch of the point's remote implementations with req.
func (p *FirstPoint[Req, Resp]) Ahead(req Req) Pending { return aheadSame(p.spec, req) }

// Ahead prepares a Prefetch of the point's remote implementations with req.
func (p *AllPassPoint[Req]) Ahead(req Req) Pending { return aheadSame(p.spec, req) }

// Ahead prepares a Prefetch of the point's remote implementations with req.
func (p *CollectPoint[Req, Resp]) Ahead(req Req) Pending { return aheadSame(p.spec, req) }

// Ahead prepares a Prefetch of the pipeline's lowest remote implementation:
// the in-process implementations below it run now, without being recorded,
// to find its input (they run again, recorded, when the point is called;
// implementations must be free of side effects). Remote implementations
// above the lowest one depend on its answer and are not prefetched.
func (p *PipelinePoint[T]) Ahead(req T) Pending {
	return Pending{spec: p.spec, calls: func(op *Operation, cp *compiledPoint) []pendingCall {
		cur := req
		for i := len(cp.impls) - 1; i >= 0; i-- {
			ci := cp.impls[i]
			if ci.remote != nil {
				enc, err := json.Marshal(cur)
				if err != nil {
					return nil
				}
				return []pendingCall{{ci: ci, req: enc}}
			}
			next, err, panicked := callDirect(op.ctx, ci.fn.(Func[T, T]), cur)
			switch {
			case panicked, err != nil && !errors.Is(err, extensions.ErrSkip):
				return nil // the call will fail the same way; nothing to send ahead
			case err == nil:
				cur = next
			}
		}
		return nil
	}}
}

func aheadSame[Req any](s *Spec, req Req) Pending {
	return Pending{spec: s, calls: func(_ *Operation, cp *compiledPoint) []pendingCall {
		var enc []byte
		var out []pendingCall
		for _, ci := range cp.impls {
			if ci.remote == nil {
				continue
			}
			if enc == nil {
				var err error
				if enc, err = json.Marshal(req); err != nil {
					return nil
				}
			}
			out = append(out, pendingCall{ci: ci, req: enc})
		}
		return out
	}}
}

// Prefetch sends the calls that the remote implementations of these points
// would receive, in one round trip per bizpack, and keeps the answers: a
// later Call of one of the points with the same request uses the kept
// answer instead of making its own round trip. It is how one phase of an
// order (the calls whose requests are ready together) costs one round trip
// instead of one per point.
//
// Prefetch changes no outcome: the reducer and the failure policy apply
// when the point is called, exactly as without it; a request that changed
// in between (because an earlier answer changed it) is sent again; an
// answer that is not used is dropped. Points without remote
// implementations cost nothing. It returns when every round trip has
// answered or reached its deadline.
func (op *Operation) Prefetch(ps ...Pending) {
	type batch struct {
		calls []RemoteCall
		cis   []*compiledImpl
		wait  time.Duration
	}
	var batches map[Remote]*batch
	var order []Remote
	for _, p := range ps {
		cp := op.plan.point(p.spec)
		if cp == nil || !cp.remote {
			continue
		}
		for _, pc := range p.calls(op, cp) {
			if op.memo != nil {
				if _, dup := op.memo[pc.ci]; dup {
					continue
				}
			}
			if batches == nil {
				batches = map[Remote]*batch{}
			}
			b := batches[pc.ci.remote]
			if b == nil {
				b = &batch{}
				batches[pc.ci.remote] = b
				order = append(order, pc.ci.remote)
			}
			b.calls = append(b.calls, RemoteCall{Point: cp.spec.Name, Identity: string(op.plan.identity), Request: pc.req, Deadline: cp.spec.Deadline})
			b.cis = append(b.cis, pc.ci)
			b.wait = max(b.wait, cp.spec.Deadline)
		}
	}
	if len(order) == 0 {
		return
	}
	if op.memo == nil {
		op.memo = make(map[*compiledImpl]memoEntry, 4)
	}
	var points []string
	if tracing.Enabled() {
		for _, r := range order {
			for _, c := range batches[r].calls {
				points = append(points, c.Point)
			}
		}
	}
	pctx, pspan := op.prefetchSpan(points)
	var from trace.SpanContext
	if pspan != nil {
		from = pspan.SpanContext()
		defer pspan.End()
	}
	send := func(r Remote, b *batch) ([]RemoteResult, time.Duration) {
		ctx, cancel := context.WithTimeout(pctx, b.wait)
		defer cancel()
		start := time.Now()
		res := r.Invoke(ctx, b.calls)
		return res, time.Since(start)
	}
	results := make([][]RemoteResult, len(order))
	tooks := make([]time.Duration, len(order))
	if len(order) == 1 {
		results[0], tooks[0] = send(order[0], batches[order[0]])
	} else {
		// Several bizpacks: their round trips run side by side.
		var wg sync.WaitGroup
		for i, r := range order {
			wg.Go(func() { results[i], tooks[i] = send(r, batches[r]) })
		}
		wg.Wait()
	}
	for i, r := range order {
		b := batches[r]
		for j, ci := range b.cis {
			op.memo[ci] = memoEntry{req: b.calls[j].Request, result: results[i][j], took: tooks[i], from: from}
		}
	}
}

// callRemote runs one remote implementation: from the prefetched answers if
// one was sent ahead with the same request, otherwise in its own round
// trip.
func callRemote[Req, Resp any](op *Operation, cp *compiledPoint, ci *compiledImpl, req Req) (resp Resp, out Outcome, took time.Duration, err error) {
	enc, err := json.Marshal(req)
	if err != nil {
		return resp, OutcomeError, 0, fmt.Errorf("encoding the request: %w", err)
	}
	var res RemoteResult
	if e, ok := op.memo[ci]; ok && bytes.Equal(e.req, enc) {
		delete(op.memo, ci)
		res, took = e.result, e.took
		op.markPrefetched(e.from)
	} else {
		if ok {
			delete(op.memo, ci)
		}
		ctx, cancel := context.WithTimeout(op.ctx, cp.spec.Deadline)
		start := time.Now()
		res = ci.remote.Invoke(ctx, []RemoteCall{{Point: cp.spec.Name, Identity: string(op.plan.identity), Request: enc, Deadline: cp.spec.Deadline}})[0]
		took = time.Since(start)
		cancel()
	}
	switch res.Outcome {
	case OutcomeOK:
		if err := json.Unmarshal(res.Response, &resp); err != nil {
			return resp, OutcomeError, took, fmt.Errorf("decoding the answer: %w", err)
		}
		return resp, OutcomeOK, took, nil
	case OutcomeSkip:
		return resp, OutcomeSkip, took, nil
	case OutcomeTimeout:
		return resp, OutcomeTimeout, took, cmpErr(res.Err, ErrDeadline)
	case OutcomePanic:
		return resp, OutcomePanic, took, &PanicError{Value: cmpErr(res.Err, errors.New("panic")).Error()}
	}
	return resp, OutcomeError, took, cmpErr(res.Err, errors.New("remote implementation failed"))
}

func cmpErr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}
