package lifecycle

import (
	"fmt"
	"strings"
)

// GraphError reports every problem found in a graph or a patch, sorted.
type GraphError struct {
	Graph    string
	Problems []string
}

func (e *GraphError) Error() string {
	return fmt.Sprintf("lifecycle: graph %q is invalid: %s", e.Graph, strings.Join(e.Problems, "; "))
}

// UnknownStateError is returned when an order's stored state is not a state of
// its lifecycle graph (the graph changed under it, or the data is corrupt).
type UnknownStateError struct {
	State string
	Graph string
}

func (e *UnknownStateError) Error() string {
	return fmt.Sprintf("lifecycle: graph %q has no state %q", e.Graph, e.State)
}

// EventNotAllowedError is returned when the current state does not allow the
// event. Allowed holds the events it does allow, sorted (nil in a terminal
// state).
type EventNotAllowedError struct {
	State, Event string
	Allowed      []string
}

func (e *EventNotAllowedError) Error() string {
	allowed := "none"
	if len(e.Allowed) > 0 {
		allowed = strings.Join(e.Allowed, ", ")
	}
	return fmt.Sprintf("lifecycle: event %q is not allowed in state %q (allowed: %s)", e.Event, e.State, allowed)
}

// VetoError is what a guard returns to refuse a transition for a business
// reason. Code is a stable string callers can branch on; Reason is for people.
type VetoError struct {
	Guard, Code, Reason string
}

func (e *VetoError) Error() string {
	var b strings.Builder
	b.WriteString("lifecycle: vetoed")
	if e.Guard != "" {
		fmt.Fprintf(&b, " by guard %q", e.Guard)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " [%s]", e.Code)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	return b.String()
}

// GuardError reports a guard that failed (as opposed to one that vetoed):
// the transition did not happen and may be retried.
type GuardError struct {
	Cause error
}

func (e *GuardError) Error() string { return "lifecycle: guard failed: " + errString(e.Cause) }
func (e *GuardError) Unwrap() error { return e.Cause }

// EffectError reports the effect that failed. The effects that ran before it
// were compensated; Compensation holds the errors of the compensations that
// failed (nil when all succeeded). Unwrap returns Cause only.
type EffectError struct {
	Effect       string
	Cause        error
	Compensation []error
}

func (e *EffectError) Error() string {
	return fmt.Sprintf("lifecycle: effect %q failed: %s%s", e.Effect, errString(e.Cause), compensationText(e.Compensation))
}
func (e *EffectError) Unwrap() error { return e.Cause }

// CommitError reports a failed commit. Every effect was compensated;
// Compensation holds the errors of the compensations that failed (nil when
// all succeeded). Unwrap returns Cause only.
type CommitError struct {
	Cause        error
	Compensation []error
}

func (e *CommitError) Error() string {
	return "lifecycle: commit failed: " + errString(e.Cause) + compensationText(e.Compensation)
}
func (e *CommitError) Unwrap() error { return e.Cause }

// PanicError is a recovered panic of a guard, effect, compensation or commit.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func compensationText(errs []error) string {
	if len(errs) == 0 {
		return ""
	}
	parts := make([]string, len(errs))
	for i, err := range errs {
		parts[i] = errString(err)
	}
	return fmt.Sprintf(" (%d compensation(s) failed: %s)", len(errs), strings.Join(parts, "; "))
}
