package authz

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Engine evaluates the authorisation policy. It is safe for concurrent use;
// reloading swaps the whole compiled policy atomically, so an evaluation never
// mixes two policies.
type Engine struct {
	source  string
	timeout time.Duration
	log     *slog.Logger

	current atomic.Pointer[compiledPolicy]

	// loadMu serialises loads (Reload, Watch) and guards lastTried.
	loadMu sync.Mutex
	// lastTried is the fingerprint of the latest snapshot a load tried, so
	// that Watch does not retry a broken policy until it changes again.
	lastTried string

	statusMu sync.Mutex
	status   Status
}

// Status describes the loaded policy and the latest load attempt.
type Status struct {
	// Source is Options.Source; "" is the embedded default policy.
	Source string
	// Revision counts successful loads, the first one in New included.
	Revision int
	// LoadedAt is when the working policy was loaded.
	LoadedAt time.Time
	// Digest fingerprints the content of the working policy (sha256, hex).
	Digest string
	// LastError is the error of the latest load attempt if it failed; it is
	// cleared by the next successful load. LastErrorAt is when it happened.
	LastError   string
	LastErrorAt time.Time
}

// New loads and compiles the policy named by o.Source. It refuses a policy
// that does not compile or lacks data.tmf.authz.allow or
// data.tmf.authz.visible; the error wraps ErrInvalidPolicy and names the
// problem.
func New(ctx context.Context, o Options) (*Engine, error) {
	e := &Engine{source: o.Source, timeout: o.Timeout, log: o.Logger}
	if e.timeout <= 0 {
		e.timeout = DefaultTimeout
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.status.Source = o.Source
	if err := e.Reload(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// Reload recompiles the policy from the source. On any failure the working
// policy stays in force; the error is returned and recorded in Status.
func (e *Engine) Reload(ctx context.Context) error {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	snap, err := readSource(e.source)
	if err != nil {
		err = fmt.Errorf("%w: read %q: %w", ErrInvalidPolicy, e.source, err)
		e.lastTried = "error: " + err.Error()
		e.recordFailure(err)
		return err
	}
	return e.load(ctx, snap)
}

// load compiles snap and makes it the working policy. Call with loadMu held.
func (e *Engine) load(ctx context.Context, snap *policySnapshot) error {
	e.lastTried = snap.digest
	c, err := compilePolicy(ctx, snap)
	if err != nil {
		e.recordFailure(err)
		return err
	}
	e.current.Store(c)
	e.statusMu.Lock()
	e.status.Revision++
	e.status.LoadedAt = time.Now()
	e.status.Digest = snap.digest
	e.status.LastError = ""
	e.status.LastErrorAt = time.Time{}
	rev := e.status.Revision
	e.statusMu.Unlock()
	e.log.Info("authz policy loaded", "source", snap.base, "revision", rev, "digest", snap.digest)
	return nil
}

func (e *Engine) recordFailure(err error) {
	e.statusMu.Lock()
	e.status.LastError = err.Error()
	e.status.LastErrorAt = time.Now()
	e.statusMu.Unlock()
	e.log.Error("authz policy not loaded; the previous policy stays in force", "source", e.source, "error", err)
}

// Watch polls the source every interval (a second if every <= 0) and reloads
// the policy when its content changes, until ctx ends. A change that fails to
// load is recorded in Status and not retried until the content changes again.
// Watch blocks; run it in its own goroutine. It returns at once for the
// embedded policy, which cannot change.
func (e *Engine) Watch(ctx context.Context, every time.Duration) {
	if e.source == "" {
		return
	}
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.poll(ctx)
		}
	}
}

// poll reloads the policy if the source's content changed since the last
// attempt.
func (e *Engine) poll(ctx context.Context) {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	snap, err := readSource(e.source)
	if err != nil {
		err = fmt.Errorf("%w: read %q: %w", ErrInvalidPolicy, e.source, err)
		if key := "error: " + err.Error(); key != e.lastTried {
			e.lastTried = key
			e.recordFailure(err)
		}
		return
	}
	if snap.digest == e.lastTried {
		return
	}
	_ = e.load(ctx, snap) // recorded in Status and logged
}

// Status reports the working policy and the latest load attempt.
func (e *Engine) Status() Status {
	e.statusMu.Lock()
	defer e.statusMu.Unlock()
	return e.status
}

// Decide evaluates the policy for one input. Any error (evaluation error,
// timeout, cancelled ctx, undefined or ill-typed result) wraps ErrEvaluation
// and comes with the zero Decision: the caller denies.
//
// Decisions are remembered per policy, keyed by every input field the
// policy reads (see decisionCache): asking again about the same principal,
// action and resource facts costs a map lookup until the policy is
// replaced. The Events of the returned Decision are shared: callers must
// not modify them.
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	// A caller that has already gone gets no decision, remembered or not.
	if err := ctx.Err(); err != nil {
		return Decision{}, fmt.Errorf("%w: %s: %w", ErrEvaluation, in.Action, err)
	}
	c := e.current.Load()
	if c.decisions == nil {
		return e.decide(ctx, c, in)
	}
	var buf [256]byte
	key := c.decisions.key(buf[:0], &in, c.withEvents(in))
	if d, ok := c.decisions.get(key); ok {
		return d, nil
	}
	d, err := e.decide(ctx, c, in)
	if err == nil {
		c.decisions.put(key, d)
	}
	return d, err
}

// withEvents reports whether a decision on in evaluates the permitted events.
func (c *compiledPolicy) withEvents(in Input) bool {
	return c.hasEvents && in.Resource != nil && in.Resource.Event != ""
}

// decide evaluates the policy, without the decision cache.
func (e *Engine) decide(ctx context.Context, c *compiledPolicy, in Input) (Decision, error) {
	withEvents := c.withEvents(in)
	q := c.decide
	if withEvents {
		q = c.decideEvents
	}
	rs, err := e.eval(ctx, q, in)
	if err != nil {
		return Decision{}, err
	}
	b := rs[0].Bindings
	allow, err := boolBinding(b, "allow", in.Action)
	if err != nil {
		return Decision{}, err
	}
	visible, err := boolBinding(b, "visible", in.Action)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Allow: allow, Visible: visible}
	if withEvents {
		if d.Events, err = eventNames(b["events"]); err != nil {
			return Decision{}, fmt.Errorf("%w: %s: %w", ErrEvaluation, in.Action, err)
		}
	}
	return d, nil
}

// allowed evaluates allow alone.
func (e *Engine) allowed(ctx context.Context, c *compiledPolicy, in Input) (bool, error) {
	rs, err := e.eval(ctx, c.allow, in)
	if err != nil {
		return false, err
	}
	return boolBinding(rs[0].Bindings, "allow", in.Action)
}

// eval runs a prepared query under the engine's timeout and requires exactly
// one result: the rules it reads are complete, so more is impossible and
// none means one of them is undefined.
func (e *Engine) eval(ctx context.Context, q rego.PreparedEvalQuery, in Input) (rego.ResultSet, error) {
	// OPA notices cancellation only while it evaluates; a caller that has
	// already gone gets no decision at all.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrEvaluation, in.Action, err)
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	cancelOpt, stop := evalCancel(ctx)
	rs, err := q.Eval(ctx, rego.EvalParsedInput(in.value()), rego.EvalMetrics(noMetrics), cancelOpt)
	stop()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrEvaluation, in.Action, err)
	}
	if len(rs) != 1 {
		return nil, fmt.Errorf("%w: %s: a rule read by the host is undefined", ErrEvaluation, in.Action)
	}
	return rs, nil
}

func boolBinding(b rego.Vars, name, action string) (bool, error) {
	v, ok := b[name].(bool)
	if !ok {
		return false, fmt.Errorf("%w: %s: %s is %T, not a boolean", ErrEvaluation, action, name, b[name])
	}
	return v, nil
}

// eventNames converts permitted_events (a set, which arrives as an array) to
// sorted strings; nil when empty.
func eventNames(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("permitted_events is %T, not a set", v)
	}
	if len(list) == 0 {
		return nil, nil
	}
	names := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("permitted_events holds %T, not a string", x)
		}
		names[i] = s
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// noMetrics spares each evaluation the timers and the map OPA would
// otherwise allocate for metrics nobody reads.
var noMetrics = metrics.NoOp()

// evalCancel stops an evaluation when ctx ends. OPA would otherwise start a
// goroutine per evaluation to watch ctx; context.AfterFunc starts one only if
// ctx ends while the evaluation runs. Call stop when the evaluation returns,
// before cancelling ctx.
func evalCancel(ctx context.Context) (opt rego.EvalOption, stop func() bool) {
	c := topdown.NewCancel()
	return rego.EvalExternalCancel(c), context.AfterFunc(ctx, c.Cancel)
}
