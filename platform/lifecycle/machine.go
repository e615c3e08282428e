package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"

	"github.com/looplab/fsm"
)

// Transition describes one move of one order; guards, effects and commit
// receive it.
type Transition struct {
	OrderID string
	// Version is the order's version before the transition; commit uses it
	// for its optimistic-concurrency check.
	Version int64
	Event   string
	From    string
	To      string
	// Key is the idempotency key, OrderID + "/" + Version + "/" + Event
	// (see TransitionKey): the same for every retry of the same request from
	// the same stored version.
	Key string
	// Data is the request's data, shared, not copied: do not modify it.
	Data  map[string]string
	Actor string
}

// TransitionKey returns the idempotency key of the transition of order
// orderID at version by event.
func TransitionKey(orderID string, version int64, event string) string {
	return orderID + "/" + strconv.FormatInt(version, 10) + "/" + event
}

// Effect is a side effect of a transition, run after the state changes and
// before commit. Do must be idempotent by Transition.Key. Undo compensates a
// Do that succeeded when a later effect or the commit fails; it may be nil
// when there is nothing to compensate.
type Effect struct {
	Name string
	Do   func(ctx context.Context, t Transition) error
	Undo func(ctx context.Context, t Transition) error
}

// Guard decides whether a transition may happen; it runs before the state
// changes. It returns nil to allow, a *VetoError (possibly wrapped) to veto,
// and any other error when it could not decide.
type Guard func(ctx context.Context, t Transition) error

// Request asks to fire Event on the order OrderID, stored at Version.
type Request struct {
	OrderID string
	Version int64
	Event   string
	Data    map[string]string
	Actor   string
}

// Compiled is a validated graph with its effects resolved, ready to build
// machines. It is immutable and safe for concurrent use.
type Compiled struct {
	graph    *Graph
	terminal map[string]bool
	next     map[string]map[string]string // state → event → to
	allowed  map[string][]string          // state → sorted events
	effects  map[string][]Effect          // event → effects in declared order

	// Shared, read-only inputs of fsm.NewFSM: it only reads them.
	fsmEvents    fsm.Events
	fsmCallbacks fsm.Callbacks
}

// Compile validates g and resolves each event's effect names with effect
// (which may be nil when no event names an effect). Every problem, including
// each unknown effect or effect without Do, is reported in one *GraphError.
// The resolved Effect's Name is set to the name the graph uses. g is copied:
// later changes to it do not affect the result.
func Compile(g *Graph, effect func(name string) (Effect, bool)) (*Compiled, error) {
	if g == nil {
		return nil, &GraphError{Problems: []string{"graph is nil"}}
	}
	g = g.Clone()
	problems := problemSet{}
	for _, p := range g.problems() {
		problems[p] = struct{}{}
	}

	effects := make(map[string][]Effect)
	for _, e := range g.Events {
		for _, name := range e.Effects {
			if name == "" {
				continue // reported by Validate
			}
			var (
				eff Effect
				ok  bool
			)
			if effect != nil {
				eff, ok = effect(name)
			}
			switch {
			case !ok:
				problems.add("event %q: effect %q is unknown", e.Name, name)
				continue
			case eff.Do == nil:
				problems.add("event %q: effect %q has no Do function", e.Name, name)
				continue
			}
			eff.Name = name
			effects[e.Name] = append(effects[e.Name], eff)
		}
	}
	if list := problems.list(); list != nil {
		return nil, &GraphError{Graph: g.Name, Problems: list}
	}

	c := &Compiled{
		graph:        g,
		terminal:     make(map[string]bool, len(g.States)),
		next:         make(map[string]map[string]string, len(g.States)),
		allowed:      make(map[string][]string, len(g.States)),
		effects:      effects,
		fsmEvents:    make(fsm.Events, 0, len(g.Events)),
		fsmCallbacks: fsm.Callbacks{"before_event": beforeEvent},
	}
	for _, s := range g.States {
		c.terminal[s.Name] = s.Terminal
		c.next[s.Name] = map[string]string{}
	}
	for _, e := range g.Events {
		for _, from := range e.From {
			c.next[from][e.Name] = e.To
			c.allowed[from] = append(c.allowed[from], e.Name)
		}
		c.fsmEvents = append(c.fsmEvents, fsm.EventDesc{Name: e.Name, Src: slices.Clone(e.From), Dst: e.To})
	}
	for _, events := range c.allowed {
		slices.Sort(events)
	}
	return c, nil
}

// Graph returns a copy of the compiled graph.
func (c *Compiled) Graph() *Graph { return c.graph.Clone() }

// Initial returns the initial state of the compiled graph.
func (c *Compiled) Initial() string { return c.graph.Initial }

// Allowed returns the events allowed in state, sorted; nil for a terminal or
// unknown state. The slice is the caller's.
func (c *Compiled) Allowed(state string) []string { return slices.Clone(c.allowed[state]) }

// HasState reports whether the lifecycle has a state of that name.
func (c *Compiled) HasState(name string) bool {
	return slices.ContainsFunc(c.graph.States, func(s State) bool { return s.Name == name })
}

// IsTerminal reports whether state is a terminal state of the graph.
func (c *Compiled) IsTerminal(state string) bool { return c.terminal[state] }

// Machine rebuilds the state machine of one order at its stored state.
func (c *Compiled) Machine(state string) (*Machine, error) {
	if _, ok := c.next[state]; !ok {
		return nil, &UnknownStateError{State: state, Graph: c.graph.Name}
	}
	return &Machine{c: c, fsm: c.newFSM(state)}, nil
}

func (c *Compiled) newFSM(state string) *fsm.FSM {
	return fsm.NewFSM(state, c.fsmEvents, c.fsmCallbacks)
}

// Machine is the state machine of one order during one request. It is not
// safe for concurrent use.
type Machine struct {
	c   *Compiled
	fsm *fsm.FSM
}

// State returns the current state.
func (m *Machine) State() string { return m.fsm.Current() }

// AvailableEvents returns the events allowed in the current state, sorted.
func (m *Machine) AvailableEvents() []string { return m.c.Allowed(m.fsm.Current()) }

// Fire moves the machine by req.Event; see the package documentation for the
// contract. guard and commit may be nil. On success the machine is in the new
// state. On error it is in the state it started from, and the returned
// Transition describes the attempted move (it is zero when the event was not
// allowed).
func (m *Machine) Fire(ctx context.Context, req Request, guard Guard, commit func(ctx context.Context, t Transition) error) (Transition, error) {
	from := m.fsm.Current()
	to, ok := m.c.next[from][req.Event]
	if !ok {
		return Transition{}, &EventNotAllowedError{State: from, Event: req.Event, Allowed: m.c.Allowed(from)}
	}
	t := Transition{
		OrderID: req.OrderID,
		Version: req.Version,
		Event:   req.Event,
		From:    from,
		To:      to,
		Key:     TransitionKey(req.OrderID, req.Version, req.Event),
		Data:    req.Data,
		Actor:   req.Actor,
	}
	if err := ctx.Err(); err != nil {
		return t, fmt.Errorf("lifecycle: %s from %q: %w", req.Event, from, err)
	}

	// The guard runs in looplab/fsm's before_event callback, which cancels
	// the transition before the state changes. Effects and commit run after
	// Event returns: never inside a callback, where firing would deadlock.
	if err := m.fsm.Event(ctx, req.Event, &fireCall{guard: guard, t: t}); err != nil {
		if err := m.fsmError(err, t); err != nil {
			return t, err
		}
	}

	effects := m.c.effects[req.Event]
	for i, eff := range effects {
		if err := call(ctx, eff.Do, t); err != nil {
			comp := compensate(ctx, effects[:i], t)
			m.fsm.SetState(from)
			return t, &EffectError{Effect: eff.Name, Cause: err, Compensation: comp}
		}
	}
	if commit != nil {
		if err := call(ctx, commit, t); err != nil {
			comp := compensate(ctx, effects, t)
			m.fsm.SetState(from)
			return t, &CommitError{Cause: err, Compensation: comp}
		}
	}
	return t, nil
}

// fsmError maps an error of fsm.Event to ours; nil means the transition
// happened.
func (m *Machine) fsmError(err error, t Transition) error {
	var (
		canceled fsm.CanceledError
		noTrans  fsm.NoTransitionError
		invalid  fsm.InvalidEventError
		unknown  fsm.UnknownEventError
	)
	switch {
	case errors.As(err, &canceled):
		if canceled.Err != nil {
			return canceled.Err // the guard's verdict, set by beforeEvent
		}
		return &GuardError{Cause: err}
	case errors.As(err, &noTrans) && noTrans.Err == nil:
		return nil // a self-loop: From == To, the guard passed
	case errors.As(err, &invalid), errors.As(err, &unknown):
		return &EventNotAllowedError{State: t.From, Event: t.Event, Allowed: m.c.Allowed(t.From)}
	default:
		// A context cancelled during the guard leaves looplab/fsm stuck "in
		// transition" at the old state; start afresh there.
		m.fsm = m.c.newFSM(t.From)
		return fmt.Errorf("lifecycle: %s from %q: %w", t.Event, t.From, err)
	}
}

// fireCall carries the guard of one Fire into the shared before_event callback.
type fireCall struct {
	guard Guard
	t     Transition
}

func beforeEvent(ctx context.Context, e *fsm.Event) {
	if len(e.Args) == 0 {
		return
	}
	fc, ok := e.Args[0].(*fireCall)
	if !ok || fc.guard == nil {
		return
	}
	if err := fc.runGuard(ctx); err != nil {
		e.Cancel(err)
	}
}

func (fc *fireCall) runGuard(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &GuardError{Cause: &PanicError{Value: r, Stack: debug.Stack()}}
		}
	}()
	err = fc.guard(ctx, fc.t)
	if err == nil {
		return nil
	}
	if veto := (*VetoError)(nil); errors.As(err, &veto) {
		return err
	}
	return &GuardError{Cause: err}
}

// call runs fn, turning a panic into a *PanicError.
func call(ctx context.Context, fn func(context.Context, Transition) error, t Transition) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fn(ctx, t)
}

// compensate undoes done in reverse order and returns the errors of the
// compensations that failed. It ignores the cancellation of ctx: a request
// that timed out must still be compensated.
func compensate(ctx context.Context, done []Effect, t Transition) []error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for i := len(done) - 1; i >= 0; i-- {
		if done[i].Undo == nil {
			continue
		}
		if err := call(ctx, done[i].Undo, t); err != nil {
			errs = append(errs, fmt.Errorf("undo %q: %w", done[i].Name, err))
		}
	}
	return errs
}
