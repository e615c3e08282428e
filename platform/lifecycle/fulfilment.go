package lifecycle

import (
	"fmt"
	"slices"
)

// States and events of supplier fulfilment (reference 000, JD's virtual
// order center): a paid order of goods an outside supplier delivers (a
// top-up, a ticket, a game card) waits in Fulfilling until the supplier
// answers, then ends Fulfilled or FulfilFailed (refunded in full).
const (
	Fulfilling   = "fulfilling"
	Fulfilled    = "fulfilled"
	FulfilFailed = "fulfil_failed"

	// EventFulfil: the supplier delivered.
	EventFulfil = "fulfil"
	// EventFulfilFail: the supplier refused, or its deadline passed; the
	// order is refunded in full.
	EventFulfilFail = "fulfil_fail"
)

// FulfilmentPatch returns the patch that puts supplier fulfilment into a
// graph fulfilled on payment (virtual goods): pay leads to Fulfilling
// instead of its terminal state, fulfil leads on to Fulfilled and
// fulfil_fail to FulfilFailed. The terminal state pay led to is removed
// when nothing else leads to it.
//
//	pending_payment → fulfilling → fulfilled
//	                            ↘ fulfil_failed
//
// It fails when g has no pay event, when pay does not end the order (a
// graph with review or shipping has its own fulfilment), or when g already
// has one of the fulfilment states or events.
func FulfilmentPatch(g *Graph) (Patch, error) {
	if g == nil {
		return Patch{}, fmt.Errorf("lifecycle: fulfilment: graph is nil")
	}
	i := slices.IndexFunc(g.Events, func(e Event) bool { return e.Name == EventPay })
	if i < 0 {
		return Patch{}, fmt.Errorf("lifecycle: fulfilment: graph %q has no %q event", g.Name, EventPay)
	}
	for _, s := range []string{Fulfilling, Fulfilled, FulfilFailed} {
		if slices.ContainsFunc(g.States, func(st State) bool { return st.Name == s }) {
			return Patch{}, fmt.Errorf("lifecycle: fulfilment: graph %q already has state %q", g.Name, s)
		}
	}
	for _, ev := range []string{EventFulfil, EventFulfilFail} {
		if slices.ContainsFunc(g.Events, func(e Event) bool { return e.Name == ev }) {
			return Patch{}, fmt.Errorf("lifecycle: fulfilment: graph %q already has event %q", g.Name, ev)
		}
	}
	paidTo := g.Events[i].To
	terminal := slices.ContainsFunc(g.States, func(st State) bool { return st.Name == paidTo && st.Terminal })
	if !terminal {
		return Patch{}, fmt.Errorf("lifecycle: fulfilment: in graph %q pay leads to %q, which is not an end: supplier fulfilment "+
			"replaces fulfilment on payment (a graph like virtual-goods', where pay ends the order)", g.Name, paidTo)
	}
	p := Patch{
		AddStates: []State{
			{Name: Fulfilling, Doc: "The order is paid and handed to its supplier, which has until the identity's fulfilment deadline to deliver."},
			{Name: Fulfilled, Terminal: true, Doc: "The supplier delivered; the order is done."},
			{Name: FulfilFailed, Terminal: true, Doc: "The supplier refused or did not answer in time; the order was refunded in full."},
		},
		AddEvents: []Event{
			{Name: EventFulfil, From: []string{Fulfilling}, To: Fulfilled, Doc: "The supplier answers that it delivered."},
			{Name: EventFulfilFail, From: []string{Fulfilling}, To: FulfilFailed,
				Doc: "The supplier refuses, or the fulfilment deadline passes; the order is refunded in full."},
		},
		Retarget: map[string]string{EventPay: Fulfilling},
	}
	if !slices.ContainsFunc(g.Events, func(e Event) bool { return e.Name != EventPay && e.To == paidTo }) {
		p.RemoveStates = []string{paidTo}
	}
	return p, nil
}
