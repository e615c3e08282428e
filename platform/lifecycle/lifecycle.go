// Package lifecycle is the order lifecycle engine: the state machine that an
// order of one business identity moves through, and the guarded, compensated
// side effects of every move.
//
// # Graphs are data
//
// A [Graph] names the states, the initial state, the terminal states and the
// events that move an order from one state to another, with the names of the
// effects each event runs. [Default] is the reference distribution graph;
// products shape it with [Graph.Apply] and a [Patch] (virtual goods drop review
// and shipping, standard retail drops review). [Graph.Validate] reports every
// problem of a graph at once, so a configuration revision that does not compile
// is refused whole.
//
// # Compile once, rebuild per request
//
// [Compile] validates a graph and resolves its effect names into a [Compiled]
// lifecycle. Compile when configuration changes, never per request. A Compiled
// is immutable and safe for concurrent use. Per request, [Compiled.Machine]
// rebuilds a [Machine] (a github.com/looplab/fsm FSM) at the order's stored
// state; a Machine serves one request on one goroutine and is not safe for
// concurrent use.
//
// # The Fire contract
//
// [Machine.Fire] moves the machine by one event. The state changes last, after
// every check:
//
//  1. An event the current state does not allow (including an unknown event)
//     is refused with an [*EventNotAllowedError] listing the allowed events;
//     nothing runs. A done context is refused next, before the guard runs.
//  2. The guard, if any, runs before the state changes. It vetoes by returning
//     a [*VetoError] (Fire returns the guard's error, which errors.As matches
//     as *VetoError); any other error is returned as a [*GuardError]. The state
//     is unchanged and no effect runs.
//  3. The state changes.
//  4. The event's effects run in declared order. When effect i fails, the
//     Undo of effects i-1..0 runs in reverse order, the state reverts to the
//     source state and an [*EffectError] is returned.
//  5. commit, if any, runs last: it persists the new state (with an
//     optimistic check on [Transition.Version]) and writes the outbound
//     messages in the same local transaction. When it fails, every effect is
//     compensated in reverse order, the state reverts and a [*CommitError] is
//     returned.
//
// Panics in guards, effects, compensations and commit are recovered and
// reported as errors wrapping a [*PanicError]; compensations still run.
// Compensations run with a context that is not cancelled with the request's,
// so a timed-out request is still compensated.
//
// There is no distributed transaction. Effects must be idempotent by
// [Transition.Key] (order id, order version before the transition, event): a
// retry of the same request from the same stored version carries the same
// key, so an effect that already did its work does it once.
package lifecycle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// States of the default graph.
const (
	Created         = "created"
	PendingPayment  = "pending_payment"
	PendingReview   = "pending_review"
	PendingOutbound = "pending_outbound"
	PendingInbound  = "pending_inbound"
	Completed       = "completed"
	PaymentFailed   = "payment_failed"
	Rejected        = "rejected"
	OutboundFailed  = "outbound_failed"
	InboundFailed   = "inbound_failed"
	Cancelled       = "cancelled"
)

// Events of the default graph.
const (
	EventPlace          = "place"
	EventPay            = "pay"
	EventPaymentFail    = "payment_fail"
	EventCancel         = "cancel"
	EventPaymentTimeout = "payment_timeout"
	EventApprove        = "approve"
	EventReject         = "reject"
	EventShip           = "ship"
	EventOutboundFail   = "outbound_fail"
	EventReceive        = "receive"
	EventInboundFail    = "inbound_fail"
)

// SystemEvent reports whether only the platform fires event: the payment
// timeout (the sweeper), a failed payment (the payments service) and the
// supplier's answers (fulfilment). The API never offers them to a caller
// among an order's available events.
func SystemEvent(event string) bool {
	return event == EventPaymentTimeout || event == EventPaymentFail || event == EventFulfil || event == EventFulfilFail
}

// Graph is a lifecycle as data: states, the initial state and the events
// between states. Check it with Validate; run it with Compile.
type Graph struct {
	Name    string  `json:"name"`
	Initial string  `json:"initial"`
	States  []State `json:"states"`
	Events  []Event `json:"events"`
}

// State is one state of a Graph. A terminal state ends the lifecycle: no
// event leaves it.
type State struct {
	Name     string `json:"name"`
	Terminal bool   `json:"terminal,omitempty"`
	Doc      string `json:"doc,omitempty"`
}

// Event moves an order from any of its From states to its To state and runs
// its Effects, by name, in order.
type Event struct {
	Name    string   `json:"name"`
	From    []string `json:"from"`
	To      string   `json:"to"`
	Effects []string `json:"effects,omitempty"`
	Doc     string   `json:"doc,omitempty"`
}

// Edge is one (From, Event) → To transition of a Graph.
type Edge struct{ From, Event, To string }

// Default returns a fresh copy of the default distribution lifecycle
// (reference 004 §2.2.3): created → pending payment → pending review →
// pending outbound → pending inbound → completed, with payment failed,
// rejected, outbound failed, inbound failed and cancelled as end states.
func Default() *Graph {
	return &Graph{
		Name:    "distribution",
		Initial: Created,
		States: []State{
			{Name: Created, Doc: "The order is drafted and its stock is reserved."},
			{Name: PendingPayment, Doc: "The order is placed and waits for the buyer's payment."},
			{Name: PendingReview, Doc: "The order is paid and waits for the seller's review."},
			{Name: PendingOutbound, Doc: "The order is approved and waits to leave the warehouse."},
			{Name: PendingInbound, Doc: "The goods are shipped and wait to be received."},
			{Name: Completed, Terminal: true, Doc: "The goods are received; the order is done."},
			{Name: PaymentFailed, Terminal: true, Doc: "The payment failed; the order ends."},
			{Name: Rejected, Terminal: true, Doc: "The review rejected the order; it ends."},
			{Name: OutboundFailed, Terminal: true, Doc: "The goods could not leave the warehouse; the order ends."},
			{Name: InboundFailed, Terminal: true, Doc: "The goods were not received; the order ends."},
			{Name: Cancelled, Terminal: true, Doc: "The order was cancelled before it shipped: its stock goes back to sellable and a paid order is refunded."},
		},
		Events: []Event{
			{Name: EventPlace, From: []string{Created}, To: PendingPayment, Doc: "The buyer places the order."},
			{Name: EventCancel, From: []string{Created, PendingPayment, PendingReview, PendingOutbound}, To: Cancelled,
				Doc: "The buyer or an operator cancels the order before it ships; a paid order is refunded in full."},
			{Name: EventPay, From: []string{PendingPayment}, To: PendingReview, Doc: "The payment succeeds."},
			{Name: EventPaymentFail, From: []string{PendingPayment}, To: PaymentFailed, Doc: "The payment fails."},
			{Name: EventPaymentTimeout, From: []string{PendingPayment}, To: Cancelled, Doc: "The identity's payment timeout passes without payment."},
			{Name: EventApprove, From: []string{PendingReview}, To: PendingOutbound, Doc: "The seller approves the order."},
			{Name: EventReject, From: []string{PendingReview}, To: Rejected, Doc: "The seller rejects the order."},
			{Name: EventShip, From: []string{PendingOutbound}, To: PendingInbound, Doc: "The goods leave the warehouse."},
			{Name: EventOutboundFail, From: []string{PendingOutbound}, To: OutboundFailed, Doc: "The outbound fails."},
			{Name: EventReceive, From: []string{PendingInbound}, To: Completed, Doc: "The buyer receives the goods."},
			{Name: EventInboundFail, From: []string{PendingInbound}, To: InboundFailed, Doc: "The inbound fails."},
		},
	}
}

// ParseGraph decodes a graph from JSON strictly (unknown fields and trailing
// data are errors) and validates it.
func ParseGraph(data []byte) (*Graph, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var g Graph
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("lifecycle: decode graph: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("lifecycle: decode graph %q: trailing data after the graph", g.Name)
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &g, nil
}

// Clone returns a deep copy of g; nil for a nil g.
func (g *Graph) Clone() *Graph {
	if g == nil {
		return nil
	}
	c := *g
	c.States = slices.Clone(g.States)
	if g.Events != nil {
		c.Events = make([]Event, len(g.Events))
		for i, e := range g.Events {
			e.From = slices.Clone(e.From)
			e.Effects = slices.Clone(e.Effects)
			c.Events[i] = e
		}
	}
	return &c
}

// Edges returns every transition of g, sorted by From, then Event.
func (g *Graph) Edges() []Edge {
	var edges []Edge
	for _, e := range g.Events {
		for _, from := range e.From {
			edges = append(edges, Edge{From: from, Event: e.Name, To: e.To})
		}
	}
	slices.SortFunc(edges, func(a, b Edge) int {
		if c := strings.Compare(a.From, b.From); c != 0 {
			return c
		}
		if c := strings.Compare(a.Event, b.Event); c != 0 {
			return c
		}
		return strings.Compare(a.To, b.To)
	})
	return edges
}

// Mermaid renders g as a Mermaid stateDiagram-v2: the initial state, every
// edge in Edges order, then every terminal state (sorted) leading to [*]. The
// text depends only on the graph, not on declaration order.
func (g *Graph) Mermaid() string {
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	fmt.Fprintf(&b, "    [*] --> %s\n", g.Initial)
	for _, e := range g.Edges() {
		fmt.Fprintf(&b, "    %s --> %s: %s\n", e.From, e.To, e.Event)
	}
	var terminals []string
	for _, s := range g.States {
		if s.Terminal {
			terminals = append(terminals, s.Name)
		}
	}
	slices.Sort(terminals)
	for _, name := range slices.Compact(terminals) {
		fmt.Fprintf(&b, "    %s --> [*]\n", name)
	}
	return b.String()
}
