package lifecycle

import (
	"fmt"
	"slices"
)

// Validate checks g and returns a *GraphError listing every problem, sorted,
// or nil. A valid graph has a name; state and event names that are non-empty,
// lowercase identifiers ([a-z][a-z0-9_]*) and unique; a declared, non-terminal
// initial state; events with at least one From, declared From and To states,
// and unique, non-empty effect names; no event leaving a terminal state; an
// outgoing event on every non-terminal state; every state reachable from the
// initial state; and a terminal state reachable from every state.
func (g *Graph) Validate() error {
	if g == nil {
		return &GraphError{Problems: []string{"graph is nil"}}
	}
	if problems := g.problems(); len(problems) > 0 {
		return &GraphError{Graph: g.Name, Problems: problems}
	}
	return nil
}

// problemSet collects problems once each; list returns them sorted.
type problemSet map[string]struct{}

func (p problemSet) add(format string, args ...any) { p[fmt.Sprintf(format, args...)] = struct{}{} }

func (p problemSet) list() []string {
	if len(p) == 0 {
		return nil
	}
	out := make([]string, 0, len(p))
	for s := range p {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func (g *Graph) problems() []string {
	p := problemSet{}
	if g.Name == "" {
		p.add("graph name is empty")
	}

	terminal := make(map[string]bool, len(g.States))
	declared := make(map[string]bool, len(g.States))
	for i, s := range g.States {
		switch {
		case s.Name == "":
			p.add("state #%d has an empty name", i)
			continue
		case !validName(s.Name):
			p.add("state %q: name must match [a-z][a-z0-9_]*", s.Name)
		}
		if declared[s.Name] {
			p.add("state %q is declared more than once", s.Name)
		}
		declared[s.Name] = true
		terminal[s.Name] = terminal[s.Name] || s.Terminal
	}

	switch {
	case g.Initial == "":
		p.add("initial state is empty")
	case !declared[g.Initial]:
		p.add("initial state %q is not declared", g.Initial)
	case terminal[g.Initial]:
		p.add("initial state %q is terminal", g.Initial)
	}

	// next holds the edges between declared states, for the reachability checks.
	next := make(map[string][]string, len(g.States))
	prev := make(map[string][]string, len(g.States))
	seenEvent := make(map[string]bool, len(g.Events))
	for i, e := range g.Events {
		name := e.Name
		switch {
		case name == "":
			p.add("event #%d has an empty name", i)
			name = fmt.Sprintf("#%d", i)
		case !validName(name):
			p.add("event %q: name must match [a-z][a-z0-9_]*", name)
		}
		if e.Name != "" && seenEvent[e.Name] {
			p.add("event %q is declared more than once", e.Name)
		}
		seenEvent[e.Name] = true

		if len(e.From) == 0 {
			p.add("event %q has no from state", name)
		}
		toOK := true
		if e.To == "" {
			p.add("event %q has an empty to state", name)
			toOK = false
		} else if !declared[e.To] {
			p.add("event %q: to state %q is not declared", name, e.To)
			toOK = false
		}
		seenFrom := make(map[string]bool, len(e.From))
		for _, from := range e.From {
			switch {
			case from == "":
				p.add("event %q has an empty from state", name)
				continue
			case !declared[from]:
				p.add("event %q: from state %q is not declared", name, from)
				continue
			case seenFrom[from]:
				p.add("event %q lists from state %q more than once", name, from)
			}
			seenFrom[from] = true
			if terminal[from] {
				p.add("event %q leaves terminal state %q", name, from)
			}
			if toOK {
				next[from] = append(next[from], e.To)
				prev[e.To] = append(prev[e.To], from)
			}
		}

		seenEffect := make(map[string]bool, len(e.Effects))
		for j, eff := range e.Effects {
			if eff == "" {
				p.add("event %q: effect #%d has an empty name", name, j)
				continue
			}
			if seenEffect[eff] {
				p.add("event %q: effect %q is listed more than once", name, eff)
			}
			seenEffect[eff] = true
		}
	}

	hasOutgoing := make(map[string]bool, len(g.States))
	for _, e := range g.Events {
		for _, from := range e.From {
			hasOutgoing[from] = true
		}
	}
	anyTerminal := false
	for name := range declared {
		if terminal[name] {
			anyTerminal = true
		} else if !hasOutgoing[name] {
			p.add("non-terminal state %q has no outgoing event", name)
		}
	}
	if len(declared) > 0 && !anyTerminal {
		p.add("graph has no terminal state")
	}

	// Reachability is only meaningful from a declared initial state.
	if declared[g.Initial] {
		fromInitial := reach([]string{g.Initial}, next)
		for name := range declared {
			if !fromInitial[name] {
				p.add("state %q is not reachable from initial state %q", name, g.Initial)
			}
		}
	}
	p.paymentBypasses(g, declared)
	var terminals []string
	for name := range declared {
		if terminal[name] {
			terminals = append(terminals, name)
		}
	}
	reachesEnd := reach(terminals, prev)
	for name := range declared {
		if !reachesEnd[name] {
			p.add("no terminal state is reachable from state %q", name)
		}
	}
	return p.list()
}

// PaidStates are the built-in states an order reaches only once paid: its
// stock is frozen (awaiting shipment) or shipped.
var PaidStates = []string{PendingReview, PendingOutbound, PendingInbound, Completed, InboundFailed, Fulfilling, Fulfilled}

// paymentBypasses reports every event that brings an order into a paid state
// without the built-in pay event: payment states belong to the platform, and
// a configured event from pending_payment to pending_outbound would ship an
// unpaid order (directly or through states of its own).
func (p problemSet) paymentBypasses(g *Graph, declared map[string]bool) {
	if !declared[g.Initial] {
		return
	}
	paid := func(s string) bool { return declared[s] && slices.Contains(PaidStates, s) }
	unpaid := map[string]bool{g.Initial: !paid(g.Initial)}
	if !unpaid[g.Initial] {
		p.add("initial state %q is a paid state; orders start unpaid", g.Initial)
		return
	}
	for changed := true; changed; {
		changed = false
		for _, e := range g.Events {
			if e.Name == EventPay || !declared[e.To] || unpaid[e.To] || !slices.ContainsFunc(e.From, func(f string) bool { return unpaid[f] }) {
				continue
			}
			if paid(e.To) {
				p.add("event %q moves an unpaid order into paid state %q; only the built-in %q event may", e.Name, e.To, EventPay)
				continue
			}
			unpaid[e.To], changed = true, true
		}
	}
}

// reach returns every state reachable from start along adj (start included).
func reach(start []string, adj map[string][]string) map[string]bool {
	seen := make(map[string]bool, len(adj))
	stack := slices.Clone(start)
	for _, s := range start {
		seen[s] = true
	}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, n := range adj[s] {
			if !seen[n] {
				seen[n] = true
				stack = append(stack, n)
			}
		}
	}
	return seen
}

// validName reports whether s matches [a-z][a-z0-9_]*.
func validName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
