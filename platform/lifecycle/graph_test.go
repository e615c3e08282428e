package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	lc "github.com/tmf-platform/tmf/platform/lifecycle"
)

// defaultEdges is the default graph written out by hand, sorted by From then
// Event, independently of Default.
var defaultEdges = []lc.Edge{
	{From: lc.Created, Event: lc.EventCancel, To: lc.Cancelled},
	{From: lc.Created, Event: lc.EventPlace, To: lc.PendingPayment},
	{From: lc.PendingInbound, Event: lc.EventInboundFail, To: lc.InboundFailed},
	{From: lc.PendingInbound, Event: lc.EventReceive, To: lc.Completed},
	{From: lc.PendingOutbound, Event: lc.EventCancel, To: lc.Cancelled},
	{From: lc.PendingOutbound, Event: lc.EventOutboundFail, To: lc.OutboundFailed},
	{From: lc.PendingOutbound, Event: lc.EventShip, To: lc.PendingInbound},
	{From: lc.PendingPayment, Event: lc.EventCancel, To: lc.Cancelled},
	{From: lc.PendingPayment, Event: lc.EventPay, To: lc.PendingReview},
	{From: lc.PendingPayment, Event: lc.EventPaymentFail, To: lc.PaymentFailed},
	{From: lc.PendingPayment, Event: lc.EventPaymentTimeout, To: lc.Cancelled},
	{From: lc.PendingReview, Event: lc.EventApprove, To: lc.PendingOutbound},
	{From: lc.PendingReview, Event: lc.EventCancel, To: lc.Cancelled},
	{From: lc.PendingReview, Event: lc.EventReject, To: lc.Rejected},
}

var (
	allStates = []string{
		lc.Created, lc.PendingPayment, lc.PendingReview, lc.PendingOutbound, lc.PendingInbound,
		lc.Completed, lc.PaymentFailed, lc.Rejected, lc.OutboundFailed, lc.InboundFailed, lc.Cancelled,
	}
	terminalStates = []string{lc.Completed, lc.PaymentFailed, lc.Rejected, lc.OutboundFailed, lc.InboundFailed, lc.Cancelled}
	allEvents      = []string{
		lc.EventPlace, lc.EventPay, lc.EventPaymentFail, lc.EventCancel, lc.EventPaymentTimeout,
		lc.EventApprove, lc.EventReject, lc.EventShip, lc.EventOutboundFail, lc.EventReceive, lc.EventInboundFail,
	}
)

func mustCompile(t testing.TB, g *lc.Graph, effects ...lc.Effect) *lc.Compiled {
	t.Helper()
	byName := map[string]lc.Effect{}
	for _, e := range effects {
		byName[e.Name] = e
	}
	c, err := lc.Compile(g, func(name string) (lc.Effect, bool) {
		e, ok := byName[name]
		return e, ok
	})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return c
}

func mustMachine(t testing.TB, c *lc.Compiled, state string) *lc.Machine {
	t.Helper()
	m, err := c.Machine(state)
	if err != nil {
		t.Fatalf("Machine(%q): %v", state, err)
	}
	return m
}

func TestDefaultGraph(t *testing.T) {
	t.Parallel()
	g := lc.Default()
	if err := g.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if g.Name != "distribution" || g.Initial != lc.Created {
		t.Errorf("name, initial = %q, %q; want distribution, created", g.Name, g.Initial)
	}
	if got := g.Edges(); !reflect.DeepEqual(got, defaultEdges) {
		t.Errorf("Edges() =\n%v\nwant\n%v", got, defaultEdges)
	}
	var names, terminals []string
	for _, s := range g.States {
		names = append(names, s.Name)
		if s.Terminal {
			terminals = append(terminals, s.Name)
		}
		if s.Doc == "" || strings.Contains(s.Doc, "\n") {
			t.Errorf("state %q: Doc %q is not one line", s.Name, s.Doc)
		}
	}
	if !reflect.DeepEqual(names, allStates) {
		t.Errorf("states = %v; want %v", names, allStates)
	}
	if !reflect.DeepEqual(terminals, terminalStates) {
		t.Errorf("terminal states = %v; want %v", terminals, terminalStates)
	}
	for _, e := range g.Events {
		if len(e.Effects) != 0 {
			t.Errorf("event %q has effects %v; the default graph has none", e.Name, e.Effects)
		}
		if e.Doc == "" || strings.Contains(e.Doc, "\n") {
			t.Errorf("event %q: Doc %q is not one line", e.Name, e.Doc)
		}
	}

	// Default returns a fresh copy each time.
	g.Events[0].From[0] = "mutated"
	g.States[0].Name = "mutated"
	if again := lc.Default(); again.Events[0].From[0] == "mutated" || again.States[0].Name == "mutated" {
		t.Error("Default() shares memory between calls")
	}
}

// TestDefaultMatrix fires every event (and an unknown one) in every state of
// the default graph.
func TestDefaultMatrix(t *testing.T) {
	t.Parallel()
	c := mustCompile(t, lc.Default())
	want := map[string]map[string]string{} // state → event → to
	for _, e := range defaultEdges {
		if want[e.From] == nil {
			want[e.From] = map[string]string{}
		}
		want[e.From][e.Event] = e.To
	}
	events := append(slices.Clone(allEvents), "no_such_event")

	for _, state := range allStates {
		var wantAllowed []string
		for ev := range want[state] {
			wantAllowed = append(wantAllowed, ev)
		}
		slices.Sort(wantAllowed)

		t.Run(state, func(t *testing.T) {
			t.Parallel()
			if got := c.Allowed(state); !reflect.DeepEqual(got, wantAllowed) {
				t.Errorf("Allowed(%q) = %v; want %v", state, got, wantAllowed)
			}
			if got, want := c.IsTerminal(state), slices.Contains(terminalStates, state); got != want {
				t.Errorf("IsTerminal(%q) = %v; want %v", state, got, want)
			}
			if got := mustMachine(t, c, state).AvailableEvents(); !reflect.DeepEqual(got, wantAllowed) {
				t.Errorf("AvailableEvents() = %v; want %v", got, wantAllowed)
			}

			for _, ev := range events {
				t.Run(ev, func(t *testing.T) {
					t.Parallel()
					m := mustMachine(t, c, state)
					var guarded, committed bool
					guard := func(context.Context, lc.Transition) error { guarded = true; return nil }
					commit := func(context.Context, lc.Transition) error { committed = true; return nil }
					tr, err := m.Fire(context.Background(), lc.Request{OrderID: "o1", Version: 3, Event: ev}, guard, commit)

					to, allowed := want[state][ev]
					if allowed {
						if err != nil {
							t.Fatalf("Fire = %v; want the move to %q", err, to)
						}
						if m.State() != to || tr.To != to || tr.From != state || tr.Event != ev {
							t.Errorf("state %q, transition %+v; want %s --%s--> %s", m.State(), tr, state, ev, to)
						}
						if tr.Key != "o1/3/"+ev || tr.OrderID != "o1" || tr.Version != 3 {
							t.Errorf("transition %+v: wrong order, version or key", tr)
						}
						if !guarded || !committed {
							t.Errorf("guard ran %v, commit ran %v; want both", guarded, committed)
						}
						return
					}
					var notAllowed *lc.EventNotAllowedError
					if !errors.As(err, &notAllowed) {
						t.Fatalf("Fire = %v (%T); want *EventNotAllowedError", err, err)
					}
					if notAllowed.State != state || notAllowed.Event != ev || !reflect.DeepEqual(notAllowed.Allowed, wantAllowed) {
						t.Errorf("error %+v; want state %q, event %q, allowed %v", notAllowed, state, ev, wantAllowed)
					}
					if m.State() != state {
						t.Errorf("state = %q after a refused event; want %q", m.State(), state)
					}
					if guarded || committed {
						t.Errorf("guard ran %v, commit ran %v for a refused event; want neither", guarded, committed)
					}
					if !reflect.DeepEqual(tr, lc.Transition{}) {
						t.Errorf("transition = %+v for a refused event; want zero", tr)
					}
				})
			}
		})
	}
}

func TestEventNotAllowedMessage(t *testing.T) {
	t.Parallel()
	c := mustCompile(t, lc.Default())
	tests := []struct{ state, event, want string }{
		{lc.PendingPayment, lc.EventShip, `lifecycle: event "ship" is not allowed in state "pending_payment" (allowed: cancel, pay, payment_fail, payment_timeout)`},
		{lc.Completed, lc.EventCancel, `lifecycle: event "cancel" is not allowed in state "completed" (allowed: none)`},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			t.Parallel()
			_, err := mustMachine(t, c, tt.state).Fire(context.Background(), lc.Request{Event: tt.event}, nil, nil)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v; want %s", err, tt.want)
			}
		})
	}
}

func TestHappyPath(t *testing.T) {
	t.Parallel()
	c := mustCompile(t, lc.Default())
	state := c.Initial()
	steps := []struct {
		event     string
		to        string
		available []string
	}{
		{lc.EventPlace, lc.PendingPayment, []string{"cancel", "pay", "payment_fail", "payment_timeout"}},
		{lc.EventPay, lc.PendingReview, []string{"approve", "cancel", "reject"}},
		{lc.EventApprove, lc.PendingOutbound, []string{"cancel", "outbound_fail", "ship"}},
		{lc.EventShip, lc.PendingInbound, []string{"inbound_fail", "receive"}},
		{lc.EventReceive, lc.Completed, nil},
	}
	for version, step := range steps {
		m := mustMachine(t, c, state) // rebuilt from the stored state, as per request
		tr, err := m.Fire(context.Background(), lc.Request{OrderID: "o", Version: int64(version), Event: step.event}, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", step.event, err)
		}
		if tr.To != step.to || m.State() != step.to {
			t.Fatalf("%s: to %q, state %q; want %q", step.event, tr.To, m.State(), step.to)
		}
		if got := m.AvailableEvents(); !reflect.DeepEqual(got, step.available) {
			t.Errorf("after %s: AvailableEvents() = %v; want %v", step.event, got, step.available)
		}
		state = m.State()
	}
	if !c.IsTerminal(state) {
		t.Errorf("final state %q is not terminal", state)
	}
}

func TestMermaid(t *testing.T) {
	t.Parallel()
	const golden = `stateDiagram-v2
    [*] --> created
    created --> cancelled: cancel
    created --> pending_payment: place
    pending_inbound --> inbound_failed: inbound_fail
    pending_inbound --> completed: receive
    pending_outbound --> cancelled: cancel
    pending_outbound --> outbound_failed: outbound_fail
    pending_outbound --> pending_inbound: ship
    pending_payment --> cancelled: cancel
    pending_payment --> pending_review: pay
    pending_payment --> payment_failed: payment_fail
    pending_payment --> cancelled: payment_timeout
    pending_review --> pending_outbound: approve
    pending_review --> cancelled: cancel
    pending_review --> rejected: reject
    cancelled --> [*]
    completed --> [*]
    inbound_failed --> [*]
    outbound_failed --> [*]
    payment_failed --> [*]
    rejected --> [*]
`
	if got := lc.Default().Mermaid(); got != golden {
		t.Errorf("Mermaid() =\n%s\nwant\n%s", got, golden)
	}
	// Declaration order does not change the text.
	g := lc.Default()
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(g.States), func(i, j int) { g.States[i], g.States[j] = g.States[j], g.States[i] })
	r.Shuffle(len(g.Events), func(i, j int) { g.Events[i], g.Events[j] = g.Events[j], g.Events[i] })
	for _, e := range g.Events {
		slices.Reverse(e.From)
	}
	if got := g.Mermaid(); got != golden {
		t.Errorf("Mermaid() of a shuffled graph =\n%s\nwant\n%s", got, golden)
	}
}

func TestClone(t *testing.T) {
	t.Parallel()
	g := lc.Default()
	g.Events[0].Effects = []string{"reserve"}
	c := g.Clone()
	if !reflect.DeepEqual(c, g) {
		t.Fatalf("Clone() differs from its source")
	}
	c.Name = "x"
	c.States[0].Terminal = true
	c.Events[0].From[0] = "x"
	c.Events[0].Effects[0] = "x"
	c.Events[1].To = "x"
	want := lc.Default()
	want.Events[0].Effects = []string{"reserve"}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("changing the clone changed the source: %+v", g)
	}
	if (*lc.Graph)(nil).Clone() != nil {
		t.Error("nil.Clone() != nil")
	}
}

func TestParseGraph(t *testing.T) {
	t.Parallel()
	data, err := json.Marshal(lc.Default())
	if err != nil {
		t.Fatal(err)
	}
	g, err := lc.ParseGraph(data)
	if err != nil {
		t.Fatalf("ParseGraph(Default) = %v", err)
	}
	if !reflect.DeepEqual(g, lc.Default()) {
		t.Errorf("round trip changed the graph:\n%+v", g)
	}

	tests := []struct {
		name, json, want string
	}{
		{"unknown field", `{"name":"x","initial":"a","states":[],"events":[],"colour":"red"}`, `unknown field "colour"`},
		{"trailing data", string(data) + `{}`, "trailing data"},
		{"invalid graph", `{"name":"x","initial":"a","states":[{"name":"a"}],"events":[]}`, `non-terminal state "a" has no outgoing event`},
		{"not json", `{`, "decode graph"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := lc.ParseGraph([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseGraph = %v; want an error containing %q", err, tt.want)
			}
		})
	}
}
