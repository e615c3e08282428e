package kernel

import (
	"context"
	"errors"
	"time"

	"github.com/tmf-platform/tmf/extensions"
)

// outcomeOf classifies a call. late says the answer came after the deadline
// of a call that has one: a late answer is a timeout even if it was a
// success, because the kernel, not the implementation, enforces the deadline.
func outcomeOf(err error, panicked, late bool) Outcome {
	switch {
	case panicked:
		return OutcomePanic
	case late || errors.Is(err, ErrDeadline):
		return OutcomeTimeout
	case err == nil:
		return OutcomeOK
	case errors.Is(err, extensions.ErrSkip):
		return OutcomeSkip
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout
	}
	return OutcomeError
}

// invoke runs one implementation, times it, classifies the result and
// records it. Only bizpacks (the bizpack layer, isolated or remote
// implementations) are held to the point's deadline: a platform default or a product's implementation runs
// in process to completion, however busy the machine, and its time is only
// measured and traced. A deadline exists to cut off someone else's code, not
// to turn a starved CPU into a failed order. A failed call returns the zero response. veto, when not nil,
// turns a successful answer into a veto with the returned reason.
func invoke[Req, Resp any](op *Operation, cp *compiledPoint, ci *compiledImpl, req Req, veto func(Resp) error) (Resp, Outcome, error) {
	span, restore := op.implSpan(cp, ci)
	if ci.remote != nil {
		resp, out, took, err := callRemote[Req, Resp](op, cp, ci, req)
		if out == OutcomeOK {
			if aerr := checkAmounts(resp); aerr != nil {
				var zero Resp
				resp, out, err = zero, OutcomeError, aerr
			}
		}
		if out == OutcomeOK && veto != nil {
			if reason := veto(resp); reason != nil {
				out, err = OutcomeVeto, reason
			}
		}
		op.endImplSpan(span, restore, cp, out, took, err)
		op.record(cp, ci, out, took, err)
		return resp, out, err
	}
	fn := ci.fn.(Func[Req, Resp])
	var (
		resp     Resp
		err      error
		panicked bool
	)
	start := time.Now()
	if ci.isolated {
		resp, err, panicked = callIsolated(op.ctx, cp.spec.Deadline, fn, req)
	} else {
		resp, err, panicked = callDirect(op.ctx, fn, req)
	}
	took := time.Since(start)
	out := outcomeOf(err, panicked, ci.deadlineBound() && took > cp.spec.Deadline)
	if out == OutcomeTimeout && err == nil {
		err = ErrDeadline
	}
	if out != OutcomeOK {
		var zero Resp
		resp = zero
	}
	if out == OutcomeSkip {
		err = nil
	}
	if out == OutcomeOK {
		if aerr := checkAmounts(resp); aerr != nil {
			var zero Resp
			resp, out, err = zero, OutcomeError, aerr
		}
	}
	if out == OutcomeOK && veto != nil {
		if reason := veto(resp); reason != nil {
			out, err = OutcomeVeto, reason
		}
	}
	op.endImplSpan(span, restore, cp, out, took, err)
	op.record(cp, ci, out, took, err)
	return resp, out, err
}

// deadlineBound reports whether the point's deadline applies to ci: to a
// bizpack's code (the bizpack layer, however it runs) and to anything
// registered as isolated; never to the platform's defaults and products.
func (ci *compiledImpl) deadlineBound() bool { return ci.isolated || ci.layer == LayerBizpack }

func callDirect[Req, Resp any](ctx context.Context, fn Func[Req, Resp], req Req) (resp Resp, err error, panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			err, panicked = &PanicError{Value: v}, true
		}
	}()
	resp, err = fn(ctx, req)
	return resp, err, false
}

func callIsolated[Req, Resp any](ctx context.Context, deadline time.Duration, fn Func[Req, Resp], req Req) (Resp, error, bool) {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	type result struct {
		resp     Resp
		err      error
		panicked bool
	}
	done := make(chan result, 1) // buffered: a late goroutine must not block forever
	go func() {
		r, err, panicked := callDirect(ctx, fn, req)
		done <- result{r, err, panicked}
	}()
	select {
	case r := <-done:
		return r.resp, r.err, r.panicked
	case <-ctx.Done():
		var zero Resp
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return zero, ErrDeadline, false
		}
		return zero, ctx.Err(), false
	}
}

func (op *Operation) record(cp *compiledPoint, ci *compiledImpl, out Outcome, took time.Duration, err error) {
	op.trace = append(op.trace, Record{Point: cp.spec.Name, Impl: ci.name, Layer: ci.layer, Source: ci.source,
		Version: ci.version, Origin: ci.origin, Duration: took, Outcome: out, Err: err})
	if m := ci.metrics; m != nil {
		m.outcomes[out].Inc()
		m.latency.Observe(took.Seconds())
	}
}

func (op *Operation) compiled(s *Spec) (*compiledPoint, error) {
	if cp := op.plan.point(s); cp != nil {
		return cp, nil
	}
	return nil, &UnknownPointError{Point: s.Name}
}

func (op *Operation) fail(cp *compiledPoint, ci *compiledImpl, out Outcome, err error) error {
	return &ExtensionError{Point: cp.spec.Name, Impl: ci.name, Layer: ci.layer, Source: ci.source, Outcome: out, Cause: err}
}

// Call runs the point: the highest implementation that does not skip
// decides. With no answer at all it returns a *NoAnswerError.
func (p *FirstPoint[Req, Resp]) Call(op *Operation, req Req) (Resp, error) {
	var zero Resp
	cp, err := op.compiled(p.spec)
	if err != nil {
		return zero, err
	}
	var dropped Layer
	for _, ci := range cp.impls {
		if ci.layer == dropped {
			continue
		}
		resp, out, err := invoke[Req, Resp](op, cp, ci, req, nil)
		switch {
		case out == OutcomeOK:
			return resp, nil
		case out == OutcomeSkip:
			continue
		case cp.spec.Policy == Fail:
			return zero, op.fail(cp, ci, out, err)
		case cp.spec.Policy == Fallback:
			dropped = ci.layer
		}
	}
	return zero, &NoAnswerError{Point: cp.spec.Name, Identity: op.plan.identity}
}

// Decision is the answer of an all-pass point. When Allowed is false, the
// fields after it say who vetoed and why.
type Decision struct {
	Allowed bool
	Code    string
	Reason  string
	// By is the implementation that vetoed, with its layer and source.
	By     string
	Layer  Layer
	Source string
}

// VetoError is a Decision that said no, as an error for callers that want
// one.
type VetoError struct{ Decision Decision }

func (e *VetoError) Error() string {
	d := e.Decision
	msg := "vetoed"
	if d.By != "" {
		msg += " by " + d.By + " (" + d.Source + ")"
	}
	return msg + ": " + d.Code + ": " + d.Reason
}

// Err returns nil for an allowing decision and a *VetoError otherwise.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return &VetoError{Decision: d}
}

// vetoOf gives the reason of a denying verdict, recorded in the trace.
func vetoOf(v extensions.Verdict) error {
	if v.Allow {
		return nil
	}
	return &VetoError{Decision: Decision{Code: ClipText(v.Code), Reason: ClipText(v.Reason)}}
}

// Call runs the point: every implementation must allow, highest first, and
// the first veto wins. A skip counts as allow.
func (p *AllPassPoint[Req]) Call(op *Operation, req Req) (Decision, error) {
	cp, err := op.compiled(p.spec)
	if err != nil {
		return Decision{}, err
	}
	var dropped Layer
	for _, ci := range cp.impls {
		if ci.layer == dropped {
			continue
		}
		v, out, err := invoke(op, cp, ci, req, vetoOf)
		switch {
		case out == OutcomeVeto:
			return Decision{Code: ClipText(v.Code), Reason: ClipText(v.Reason), By: ci.name, Layer: ci.layer, Source: ci.source}, nil
		case out == OutcomeOK, out == OutcomeSkip:
		case cp.spec.Policy == Fail:
			return Decision{}, op.fail(cp, ci, out, err)
		case cp.spec.Policy == Fallback:
			dropped = ci.layer
		}
	}
	return Decision{Allowed: true}, nil
}

// Call runs the point: starting from req, each implementation from the
// platform default up to the bizpack transforms the output of the one below.
// Skip leaves the value unchanged; under Fallback a failure discards what its
// whole layer did, so the output of the layer below passes up.
func (p *PipelinePoint[T]) Call(op *Operation, req T) (T, error) {
	cp, err := op.compiled(p.spec)
	if err != nil {
		var zero T
		return zero, err
	}
	cur, layerIn := req, req
	var layer, dropped Layer
	for i := len(cp.impls) - 1; i >= 0; i-- {
		ci := cp.impls[i]
		if ci.layer != layer {
			layer, layerIn = ci.layer, cur
		}
		if ci.layer == dropped {
			continue
		}
		next, out, err := invoke[T, T](op, cp, ci, cur, nil)
		switch {
		case out == OutcomeOK:
			cur = next
		case out == OutcomeSkip:
		case cp.spec.Policy == Fail:
			var zero T
			return zero, op.fail(cp, ci, out, err)
		case cp.spec.Policy == Fallback:
			cur, dropped = layerIn, ci.layer
		}
	}
	return cur, nil
}

// Call runs every implementation, highest first, and gathers their answers
// in that order. Skips are left out; under Fallback a failure discards its
// whole layer's answers.
func (p *CollectPoint[Req, Resp]) Call(op *Operation, req Req) ([]Resp, error) {
	cp, err := op.compiled(p.spec)
	if err != nil {
		return nil, err
	}
	var out []Resp
	var layer, dropped Layer
	layerStart := 0
	for _, ci := range cp.impls {
		if ci.layer != layer {
			layer, layerStart = ci.layer, len(out)
		}
		if ci.layer == dropped {
			continue
		}
		resp, o, err := invoke[Req, Resp](op, cp, ci, req, nil)
		switch {
		case o == OutcomeOK:
			out = append(out, resp)
		case o == OutcomeSkip:
		case cp.spec.Policy == Fail:
			return nil, op.fail(cp, ci, o, err)
		case cp.spec.Policy == Fallback:
			out, dropped = out[:layerStart], ci.layer
		}
	}
	return out, nil
}
