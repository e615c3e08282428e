package lifecycle

import (
	"maps"
	"slices"
)

// Patch reshapes a graph; products use it to derive their lifecycle from the
// default. Apply performs, in order: rename, RemoveEvents, RemoveStates,
// AddStates, AddEvents, Retarget. So an event is redefined by removing and
// adding it in the same patch.
//
// In JSON (configuration files, stored revisions, the admin API) the
// members are camelCase, as in bizpack manifests: removeStates, addStates,
// removeEvents, addEvents, retarget, name. Decoding with encoding/json
// also reads files written with the Go names (RemoveStates…), since it
// matches names without regard to case.
type Patch struct {
	// RemoveStates removes states. Each is also removed from every event's
	// From list, and an event left with no From is dropped. An event whose
	// To is removed must be retargeted by the same patch.
	RemoveStates []string `json:"removeStates,omitempty"`
	// AddStates adds states.
	AddStates []State `json:"addStates,omitempty"`
	// RemoveEvents removes events by name.
	RemoveEvents []string `json:"removeEvents,omitempty"`
	// AddEvents adds events.
	AddEvents []Event `json:"addEvents,omitempty"`
	// Retarget maps an event name to its new To state.
	Retarget map[string]string `json:"retarget,omitempty"`
	// Name is the new graph's name; empty keeps the current one.
	Name string `json:"name,omitempty"`
}

// Apply returns a new, validated graph: g with p applied. g is not modified.
// Unknown names in RemoveStates, RemoveEvents and Retarget are errors, as is
// an event whose To state is removed and not retargeted. Errors are
// *GraphError listing every problem.
func (g *Graph) Apply(p Patch) (*Graph, error) {
	if g == nil {
		return nil, &GraphError{Graph: p.Name, Problems: []string{"graph is nil"}}
	}
	out := g.Clone()
	if p.Name != "" {
		out.Name = p.Name
	}
	problems := problemSet{}

	removeEvents := make(map[string]bool, len(p.RemoveEvents))
	for _, name := range p.RemoveEvents {
		if !slices.ContainsFunc(out.Events, func(e Event) bool { return e.Name == name }) {
			problems.add("patch removes unknown event %q", name)
		}
		removeEvents[name] = true
	}
	out.Events = slices.DeleteFunc(out.Events, func(e Event) bool { return removeEvents[e.Name] })
	gone := maps.Clone(removeEvents) // events the patch takes away, for clearer Retarget errors

	removeStates := make(map[string]bool, len(p.RemoveStates))
	for _, name := range p.RemoveStates {
		if !slices.ContainsFunc(out.States, func(s State) bool { return s.Name == name }) {
			problems.add("patch removes unknown state %q", name)
		}
		removeStates[name] = true
	}
	out.States = slices.DeleteFunc(out.States, func(s State) bool { return removeStates[s.Name] })
	kept := out.Events[:0]
	for _, e := range out.Events {
		e.From = slices.DeleteFunc(e.From, func(s string) bool { return removeStates[s] })
		if len(e.From) == 0 {
			gone[e.Name] = true // every source state is gone: the event cannot happen any more
			continue
		}
		if removeStates[e.To] {
			if _, ok := p.Retarget[e.Name]; !ok {
				problems.add("event %q leads to removed state %q and is not retargeted", e.Name, e.To)
			}
		}
		kept = append(kept, e)
	}
	out.Events = kept

	out.States = append(out.States, slices.Clone(p.AddStates)...)
	for _, e := range p.AddEvents {
		e.From = slices.Clone(e.From)
		e.Effects = slices.Clone(e.Effects)
		out.Events = append(out.Events, e)
	}

	for _, name := range slices.Sorted(maps.Keys(p.Retarget)) {
		i := slices.IndexFunc(out.Events, func(e Event) bool { return e.Name == name })
		switch {
		case i < 0 && gone[name]:
			problems.add("patch retargets event %q, which the patch removes", name)
			continue
		case i < 0:
			problems.add("patch retargets unknown event %q", name)
			continue
		}
		out.Events[i].To = p.Retarget[name]
	}

	if list := problems.list(); list != nil {
		return nil, &GraphError{Graph: out.Name, Problems: list}
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return out, nil
}
