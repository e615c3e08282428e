package kernel

import (
	"time"

	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/lifecycle"
)

// FulfilmentSpec turns on supplier fulfilment for an identity's orders
// (IdentitySpec.Fulfilment; reference 000): once paid, an order is handed
// to a supplier through the fulfilment.dispatch point and waits in the
// fulfilling state for the supplier's answer (a signed callback, or
// fulfilment.query polled every PollEvery). Past Deadline, counted from
// payment, it is refunded in full and ends fulfil_failed.
//
// It needs a lifecycle fulfilled on payment (the virtual-goods product's,
// or a bizpack's where pay ends the order): the kernel then applies
// lifecycle.FulfilmentPatch after the products' and bizpacks' patches and
// before the identities' own. An identity without it inherits its nearest
// configured ancestor's.
type FulfilmentSpec struct {
	// Deadline is how long after payment the supplier has to deliver
	// (MinFulfilmentDeadline to MaxFulfilmentDeadline).
	Deadline Duration `json:"deadline"`
	// PollEvery is how often fulfilment.query asks the supplier while an
	// order waits (MinFulfilmentPoll up to Deadline); zero takes
	// DefaultFulfilmentPoll, capped at Deadline.
	PollEvery Duration `json:"pollEvery,omitempty"`
}

// Bounds of FulfilmentSpec.
const (
	MinFulfilmentDeadline = time.Second
	MaxFulfilmentDeadline = 30 * 24 * time.Hour
	MinFulfilmentPoll     = time.Second
	DefaultFulfilmentPoll = time.Minute
)

// Fulfilment is the supplier fulfilment in force for an identity.
type Fulfilment struct {
	Deadline  time.Duration
	PollEvery time.Duration
	// Origin is the identity whose configuration set it.
	Origin identity.Code
}

// Fulfilment returns the identity's supplier fulfilment; ok is false when
// its orders are fulfilled on payment.
func (p *Plan) Fulfilment() (f Fulfilment, ok bool) {
	if p.fulfilment == nil {
		return Fulfilment{}, false
	}
	return *p.fulfilment, true
}

// fulfilment resolves the identity's supplier fulfilment from the nearest
// identity of its chain that configures one, reporting a malformed one as
// a problem of kind "fulfilment".
func (c *compiler) fulfilment(code identity.Code) *Fulfilment {
	for _, link := range code.Chain() {
		spec := c.byCode[link]
		if spec == nil || spec.Fulfilment == nil {
			continue
		}
		f := spec.Fulfilment
		d, poll := time.Duration(f.Deadline), time.Duration(f.PollEvery)
		if poll == 0 {
			poll = min(DefaultFulfilmentPoll, d)
		}
		ok := true
		if d < MinFulfilmentDeadline || d > MaxFulfilmentDeadline {
			c.problem(link, "", "fulfilment", "fulfilment deadline %s of identity %s must be between %s and %s", d, link,
				MinFulfilmentDeadline, MaxFulfilmentDeadline)
			ok = false
		}
		if poll < MinFulfilmentPoll || poll > max(d, MinFulfilmentPoll) {
			c.problem(link, "", "fulfilment", "fulfilment pollEvery %s of identity %s must be between %s and the deadline", poll, link,
				MinFulfilmentPoll)
			ok = false
		}
		if !ok {
			return nil
		}
		return &Fulfilment{Deadline: d, PollEvery: poll, Origin: link}
	}
	return nil
}

// applyFulfilment puts supplier fulfilment into graph when the identity
// has it.
func (c *compiler) applyFulfilment(code identity.Code, f *Fulfilment, graph *lifecycle.Graph) *lifecycle.Graph {
	if f == nil {
		return graph
	}
	patch, err := lifecycle.FulfilmentPatch(graph)
	if err != nil {
		c.problem(code, "", "fulfilment", "supplier fulfilment (set by identity %s): %v", f.Origin, err)
		return graph
	}
	next, err := graph.Apply(patch)
	if err != nil {
		c.problem(code, "", "fulfilment", "supplier fulfilment (set by identity %s): %v", f.Origin, err)
		return graph
	}
	return next
}
