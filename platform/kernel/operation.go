package kernel

import (
	"context"

	"github.com/tmf-platform/tmf/platform/identity"
)

// Operation is one business operation (placing an order, firing one
// lifecycle event) of one identity. It holds the identity's plan from Begin
// to its end, so every point called through it sees one plan version, and it
// keeps the trace of every implementation call. An Operation is used by one
// goroutine at a time.
type Operation struct {
	ctx   context.Context
	plan  *Plan
	trace []Record
	// memo holds the answers Prefetch obtained, until a call uses them.
	memo map[*compiledImpl]memoEntry
}

// Context is the context the operation was begun with.
func (op *Operation) Context() context.Context { return op.ctx }

// Plan is the plan the operation runs on.
func (op *Operation) Plan() *Plan { return op.plan }

// Identity is the identity of the operation's plan.
func (op *Operation) Identity() identity.Code { return op.plan.identity }

// Trace returns the calls made so far, in order. The slice is the
// operation's own: do not modify it.
func (op *Operation) Trace() []Record { return op.trace }

// ClearTrace forgets the calls recorded so far, keeping the capacity, for a
// long-running operation that drains its trace periodically.
func (op *Operation) ClearTrace() { op.trace = op.trace[:0] }

func newOperation(ctx context.Context, p *Plan) *Operation {
	return &Operation{ctx: ctx, plan: p, trace: make([]Record, 0, 16)}
}
