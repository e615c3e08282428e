// Package authz decides who may see and act on which orders and which
// configuration. The decision is made by an OPA policy (Rego v1, package
// tmf.authz) evaluated in-process through prepared queries; list endpoints get
// their row filter from the policy's partial evaluation.
//
// The host asks three rules of the policy:
//
//   - allow: may the principal perform the action (on the resource)?
//   - visible: may the principal know that the resource exists? The API answers
//     404 when the action is not allowed and the resource is not visible, 403
//     when it is visible but not allowed. A list endpoint shows the rows for
//     which visible holds, computed once per request by [Engine.Filter].
//   - permitted_events: the order events the principal may fire on the
//     resource ("*" meaning every event), whatever the action.
//
// The shipped policy lives in policy/ (see [DefaultPolicy]); an operator may
// replace it with a directory or a bundle (Options.Source) and change it at run
// time ([Engine.Reload], [Engine.Watch]). A policy that does not load keeps the
// working one in place. Every error of [Engine.Decide] and [Engine.Filter]
// means "deny".
package authz

import (
	"errors"
	"log/slog"
	"time"
)

// Principal is the authenticated caller. It becomes input.principal.
type Principal struct {
	// ID is the subject id; empty means anonymous, which the shipped policy
	// grants nothing.
	ID string
	// Roles are among buyer, agent, operator and admin; others grant nothing.
	Roles []string
	// OrgPath is the principal's node in the organisation tree as a
	// "/"-terminated materialised path ("/hq/east/sh-01/"), or "" for none.
	OrgPath string
	// Identities are the business identities (bizCodes) an operator is granted;
	// "*" grants all of them.
	Identities []string
}

// Resource is what an action is about. It becomes input.resource.
type Resource struct {
	Type      string // "order", "coupon", ...
	ID        string
	BuyerID   string // the owning buyer; "" for an unowned resource
	OwnerPath string // the org node the resource belongs to, "/"-terminated
	BizCode   string // the business identity the resource belongs to
	Event     string // for "order.event": the lifecycle event to fire
}

// Input is one question to the policy.
type Input struct {
	Principal Principal
	// Action is a dotted name such as "order.read" or "admin.skus.write".
	Action string
	// Resource is nil for function-level actions, which name no resource.
	Resource *Resource
}

// Decision is the policy's answer. The host proceeds when Allow is true; when
// it is false, Visible chooses between 404 (not visible) and 403. In the
// shipped policy, an action allowed on a resource implies that the resource
// is visible, so checking Visible first gives the same answers.
type Decision struct {
	Allow   bool
	Visible bool
	// Events are the events the principal may fire on the resource, sorted;
	// "*" means every event. They are evaluated only for an input whose
	// resource names an event (order.event), and nil otherwise.
	Events []string
}

// Options configures an Engine. The zero value serves the embedded default
// policy with the default timeout and no logging.
type Options struct {
	// Source is where the policy comes from: "" for the embedded default
	// policy, the path of a directory (.rego files, optional data.json,
	// data.yaml and .manifest, laid out as an OPA bundle), or the path of a
	// bundle .tar.gz. Files named *_test.rego are policy tests and are not
	// loaded into the engine.
	Source string
	// Timeout bounds each evaluation; zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives reloads and reload failures; nil discards them.
	Logger *slog.Logger
}

// DefaultTimeout bounds one evaluation when Options.Timeout is zero. It
// stops a runaway policy; it is far above a decision's cost (tens of
// microseconds) so that a collector pause or a busy machine does not turn
// into a denial.
const DefaultTimeout = 250 * time.Millisecond

// Errors returned by this package, matched with errors.Is. Each wraps the
// underlying cause.
var (
	// ErrInvalidPolicy: the policy could not be read, parsed or compiled, or
	// lacks a rule the host needs.
	ErrInvalidPolicy = errors.New("authz: invalid policy")
	// ErrEvaluation: evaluation failed, timed out, or gave an undefined or
	// ill-typed result.
	ErrEvaluation = errors.New("authz: evaluation failed")
	// ErrUnsupportedFilter: the partial evaluation of visible produced
	// something that cannot be expressed as a Filter.
	ErrUnsupportedFilter = errors.New("authz: unsupported filter")
)
