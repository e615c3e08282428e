package lifecycle_test

import (
	"errors"
	"slices"
	"testing"

	lc "github.com/tmf-platform/tmf/platform/lifecycle"
)

func eventIndex(g *lc.Graph, name string) int {
	return slices.IndexFunc(g.Events, func(e lc.Event) bool { return e.Name == name })
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(g *lc.Graph)
		want   []string // each must be one of the reported problems
	}{
		{"empty graph name", func(g *lc.Graph) { g.Name = "" },
			[]string{"graph name is empty"}},
		{"empty state name", func(g *lc.Graph) { g.States = append(g.States, lc.State{Terminal: true}) },
			[]string{"state #11 has an empty name"}},
		{"state name not lowercase", func(g *lc.Graph) { g.States = append(g.States, lc.State{Name: "On-Hold", Terminal: true}) },
			[]string{`state "On-Hold": name must match [a-z][a-z0-9_]*`}},
		{"state name starts with a digit", func(g *lc.Graph) { g.States = append(g.States, lc.State{Name: "2nd", Terminal: true}) },
			[]string{`state "2nd": name must match [a-z][a-z0-9_]*`}},
		{"duplicate state", func(g *lc.Graph) { g.States = append(g.States, lc.State{Name: lc.Completed, Terminal: true}) },
			[]string{`state "completed" is declared more than once`}},
		{"empty initial", func(g *lc.Graph) { g.Initial = "" },
			[]string{"initial state is empty"}},
		{"undeclared initial", func(g *lc.Graph) { g.Initial = "nowhere" },
			[]string{`initial state "nowhere" is not declared`}},
		{"terminal initial", func(g *lc.Graph) { g.Initial = lc.Completed },
			[]string{`initial state "completed" is terminal`, `state "created" is not reachable from initial state "completed"`}},
		{"undeclared from", func(g *lc.Graph) {
			i := eventIndex(g, lc.EventShip)
			g.Events[i].From = append(g.Events[i].From, "limbo")
		}, []string{`event "ship": from state "limbo" is not declared`}},
		{"empty from", func(g *lc.Graph) {
			i := eventIndex(g, lc.EventShip)
			g.Events[i].From = append(g.Events[i].From, "")
		}, []string{`event "ship" has an empty from state`}},
		{"duplicate from", func(g *lc.Graph) {
			i := eventIndex(g, lc.EventCancel)
			g.Events[i].From = append(g.Events[i].From, lc.Created)
		}, []string{`event "cancel" lists from state "created" more than once`}},
		{"undeclared to", func(g *lc.Graph) { g.Events[eventIndex(g, lc.EventReceive)].To = "done" },
			[]string{`event "receive": to state "done" is not declared`, `state "completed" is not reachable from initial state "created"`}},
		{"empty to", func(g *lc.Graph) { g.Events[eventIndex(g, lc.EventReject)].To = "" },
			[]string{`event "reject" has an empty to state`}},
		{"no from", func(g *lc.Graph) { g.Events[eventIndex(g, lc.EventReject)].From = nil },
			[]string{`event "reject" has no from state`, `state "rejected" is not reachable from initial state "created"`}},
		{"event other than pay into a paid state", func(g *lc.Graph) {
			g.Events = append(g.Events, lc.Event{Name: "force_pay", From: []string{lc.PendingPayment}, To: lc.PendingOutbound})
		}, []string{`event "force_pay" moves an unpaid order into paid state "pending_outbound"; only the built-in "pay" event may`}},
		{"paid state through a state of its own", func(g *lc.Graph) {
			g.States = append(g.States, lc.State{Name: "limbo"})
			g.Events = append(g.Events, lc.Event{Name: "hold", From: []string{lc.Created}, To: "limbo"},
				lc.Event{Name: "release", From: []string{"limbo"}, To: lc.Completed})
		}, []string{`event "release" moves an unpaid order into paid state "completed"; only the built-in "pay" event may`}},
		{"paid initial state", func(g *lc.Graph) { g.Initial = lc.PendingReview },
			[]string{`initial state "pending_review" is a paid state; orders start unpaid`}},
		{"event leaves a terminal state", func(g *lc.Graph) {
			g.Events = append(g.Events, lc.Event{Name: "reopen", From: []string{lc.Completed}, To: lc.Created})
		}, []string{`event "reopen" leaves terminal state "completed"`}},
		{"dead end", func(g *lc.Graph) {
			g.States = append(g.States, lc.State{Name: "on_hold"})
			g.Events = append(g.Events, lc.Event{Name: "hold", From: []string{lc.PendingReview}, To: "on_hold"})
		}, []string{`non-terminal state "on_hold" has no outgoing event`, `no terminal state is reachable from state "on_hold"`}},
		{"unreachable state", func(g *lc.Graph) { g.States = append(g.States, lc.State{Name: "orphan", Terminal: true}) },
			[]string{`state "orphan" is not reachable from initial state "created"`}},
		{"cycle without an end", func(g *lc.Graph) {
			g.States = append(g.States, lc.State{Name: "loop_a"}, lc.State{Name: "loop_b"})
			g.Events = append(g.Events,
				lc.Event{Name: "enter_loop", From: []string{lc.PendingReview}, To: "loop_a"},
				lc.Event{Name: "a_to_b", From: []string{"loop_a"}, To: "loop_b"},
				lc.Event{Name: "b_to_a", From: []string{"loop_b"}, To: "loop_a"},
			)
		}, []string{`no terminal state is reachable from state "loop_a"`, `no terminal state is reachable from state "loop_b"`}},
		{"no terminal state at all", func(g *lc.Graph) {
			*g = lc.Graph{Name: "spin", Initial: "a",
				States: []lc.State{{Name: "a"}, {Name: "b"}},
				Events: []lc.Event{{Name: "go", From: []string{"a"}, To: "b"}, {Name: "back", From: []string{"b"}, To: "a"}}}
		}, []string{"graph has no terminal state", `no terminal state is reachable from state "a"`, `no terminal state is reachable from state "b"`}},
		{"duplicate event", func(g *lc.Graph) {
			g.Events = append(g.Events, lc.Event{Name: lc.EventPay, From: []string{lc.PendingReview}, To: lc.Rejected})
		}, []string{`event "pay" is declared more than once`}},
		{"empty event name", func(g *lc.Graph) {
			g.Events = append(g.Events, lc.Event{From: []string{lc.PendingReview}, To: lc.Rejected})
		}, []string{"event #11 has an empty name"}},
		{"event name not lowercase", func(g *lc.Graph) { g.Events[eventIndex(g, lc.EventShip)].Name = "Ship" },
			[]string{`event "Ship": name must match [a-z][a-z0-9_]*`}},
		{"empty effect name", func(g *lc.Graph) { g.Events[eventIndex(g, lc.EventPay)].Effects = []string{"capture", ""} },
			[]string{`event "pay": effect #1 has an empty name`}},
		{"duplicate effect", func(g *lc.Graph) {
			g.Events[eventIndex(g, lc.EventPay)].Effects = []string{"capture", "notify", "capture"}
		},
			[]string{`event "pay": effect "capture" is listed more than once`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := lc.Default()
			tt.mutate(g)
			assertProblems(t, g.Validate(), g.Name, tt.want)
		})
	}
}

// TestValidateReportsEveryProblem breaks a graph in many ways at once.
func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	g := lc.Default()
	g.Name = ""
	g.States = append(g.States, lc.State{Name: lc.Completed, Terminal: true}, lc.State{Name: "orphan", Terminal: true})
	g.Events[eventIndex(g, lc.EventShip)].From = append(g.Events[eventIndex(g, lc.EventShip)].From, "limbo")
	g.Events[eventIndex(g, lc.EventApprove)].Effects = []string{"a", "a"}
	g.Events = append(g.Events,
		lc.Event{Name: "reopen", From: []string{lc.Rejected}, To: lc.Created},
		lc.Event{Name: lc.EventPlace, From: []string{lc.Created}, To: lc.Cancelled},
		lc.Event{Name: "Bad", To: lc.Cancelled},
	)
	want := []string{
		"graph name is empty",
		`state "completed" is declared more than once`,
		`state "orphan" is not reachable from initial state "created"`,
		`event "ship": from state "limbo" is not declared`,
		`event "approve": effect "a" is listed more than once`,
		`event "reopen" leaves terminal state "rejected"`,
		`event "place" is declared more than once`,
		`event "Bad": name must match [a-z][a-z0-9_]*`,
		`event "Bad" has no from state`,
	}
	err := g.Validate()
	assertProblems(t, err, "", want)
	var ge *lc.GraphError
	if errors.As(err, &ge) && len(ge.Problems) != len(want) {
		t.Errorf("got %d problems; want exactly %d:\n%q", len(ge.Problems), len(want), ge.Problems)
	}
}

func TestValidateNil(t *testing.T) {
	t.Parallel()
	assertProblems(t, (*lc.Graph)(nil).Validate(), "", []string{"graph is nil"})
}

// assertProblems checks that err is a *GraphError for graph with sorted,
// unique problems that include every one of want.
func assertProblems(t *testing.T, err error, graph string, want []string) {
	t.Helper()
	var ge *lc.GraphError
	if !errors.As(err, &ge) {
		t.Fatalf("error = %v (%T); want *GraphError", err, err)
	}
	if ge.Graph != graph {
		t.Errorf("GraphError.Graph = %q; want %q", ge.Graph, graph)
	}
	if !slices.IsSorted(ge.Problems) {
		t.Errorf("problems are not sorted: %q", ge.Problems)
	}
	if len(slices.Compact(slices.Clone(ge.Problems))) != len(ge.Problems) {
		t.Errorf("problems repeat: %q", ge.Problems)
	}
	for _, w := range want {
		if !slices.Contains(ge.Problems, w) {
			t.Errorf("problem %q not reported; got:\n%q", w, ge.Problems)
		}
	}
}
