package authz

import (
	"context"
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/types"
)

// The rules the host reads.
var (
	allowRef   = ast.MustParseRef("data.tmf.authz.allow")
	visibleRef = ast.MustParseRef("data.tmf.authz.visible")
	eventsRef  = ast.MustParseRef("data.tmf.authz.permitted_events")
)

// visibleUnknowns is what list endpoints do not know: the row.
var visibleUnknowns = []*ast.Term{ast.MustParseTerm("input.resource")}

// compiledPolicy is one loaded policy and its prepared queries. It is
// immutable once built; the engine swaps whole values on reload, so an
// evaluation runs entirely against one policy.
type compiledPolicy struct {
	// decide yields allow and visible in one evaluation; decideEvents also
	// the permitted events, when the policy defines them (hasEvents), for
	// inputs naming an event: other decisions do not pay for the set.
	decide, decideEvents rego.PreparedEvalQuery
	hasEvents            bool
	// allow yields allow alone: the precondition of a list filter.
	allow rego.PreparedEvalQuery
	// visible is `data.tmf.authz.visible == true` with input.resource unknown.
	visible rego.PreparedPartialQuery
	// filters remembers this policy's Filters, decisions its Decisions; nil
	// when they cannot.
	filters   *filterCache
	decisions *decisionCache
}

// compilePolicy parses, compiles and checks a snapshot and prepares its queries.
// Every error wraps ErrInvalidPolicy and names the source.
func compilePolicy(ctx context.Context, snap *policySnapshot) (*compiledPolicy, error) {
	c, err := prepare(ctx, snap)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidPolicy, snap.base, err)
	}
	return c, nil
}

func prepare(ctx context.Context, snap *policySnapshot) (*compiledPolicy, error) {
	b, err := snap.bundle()
	if err != nil {
		return nil, err
	}
	if len(b.Modules) == 0 {
		return nil, errors.New("no .rego modules")
	}
	modules := make(map[string]*ast.Module, len(b.Modules))
	for _, m := range b.Modules {
		modules[m.URL] = m.Parsed
	}
	data := b.Data
	if data == nil {
		data = map[string]any{}
	}
	store := inmem.NewFromObjectWithOpts(data,
		inmem.OptRoundTripOnWrite(false),
		inmem.OptReturnASTValuesOnRead(true))

	compiler := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	// A rule and a data document at the same path would shadow each other.
	err = storage.Txn(ctx, store, storage.TransactionParams{}, func(txn storage.Transaction) error {
		compiler.WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn)).Compile(modules)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if compiler.Failed() {
		return nil, compiler.Errors
	}

	for _, ref := range []ast.Ref{allowRef, visibleRef} {
		if err := checkBooleanRule(compiler, ref); err != nil {
			return nil, err
		}
	}
	hasEvents, err := checkOptionalSetRule(compiler, eventsRef)
	if err != nil {
		return nil, err
	}

	query := ast.NewBody(
		ast.Assign.Expr(ast.VarTerm("allow"), ast.NewTerm(allowRef)),
		ast.Assign.Expr(ast.VarTerm("visible"), ast.NewTerm(visibleRef)),
	)
	decide, err := rego.New(
		rego.ParsedQuery(query),
		rego.Compiler(compiler),
		rego.Store(store),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare decision query: %w", err)
	}
	decideEvents := decide
	if hasEvents {
		query = query.Copy()
		query.Append(ast.Assign.Expr(ast.VarTerm("events"), ast.NewTerm(eventsRef)))
		decideEvents, err = rego.New(
			rego.ParsedQuery(query),
			rego.Compiler(compiler),
			rego.Store(store),
		).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("prepare decision query with events: %w", err)
		}
	}
	allow, err := rego.New(
		rego.ParsedQuery(ast.NewBody(ast.Assign.Expr(ast.VarTerm("allow"), ast.NewTerm(allowRef)))),
		rego.Compiler(compiler),
		rego.Store(store),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare allow query: %w", err)
	}
	visible, err := rego.New(
		rego.ParsedQuery(ast.NewBody(ast.Equal.Expr(ast.NewTerm(visibleRef), ast.BooleanTerm(true)))),
		rego.ParsedUnknowns(visibleUnknowns),
		rego.Compiler(compiler),
		rego.Store(store),
	).PrepareForPartial(ctx)
	if err != nil {
		return nil, fmt.Errorf("prepare visibility query: %w", err)
	}
	return &compiledPolicy{decide: decide, decideEvents: decideEvents, hasEvents: hasEvents, allow: allow, visible: visible,
		filters: newFilterCache(compiler), decisions: newDecisionCache(compiler)}, nil
}

// checkBooleanRule requires ref to be a single-value rule (not a function,
// set or object) whose type may be boolean.
func checkBooleanRule(c *ast.Compiler, ref ast.Ref) error {
	rules := c.GetRulesExact(ref)
	if len(rules) == 0 {
		return fmt.Errorf("policy lacks rule %v", ref)
	}
	for _, r := range rules {
		if len(r.Head.Args) > 0 || r.Head.RuleKind() != ast.SingleValue {
			return fmt.Errorf("%v (%v) must be a boolean rule, not a function, set or object", ref, r.Location)
		}
	}
	if t := c.TypeEnv.GetByRef(ref); t != nil && !types.Contains(t, types.B) {
		return fmt.Errorf("%v must be boolean, is %v", ref, t)
	}
	return nil
}

// checkOptionalSetRule reports whether ref is defined and, if it is, requires
// a rule rather than a function. (Its value is checked at evaluation: a set or
// array of strings.)
func checkOptionalSetRule(c *ast.Compiler, ref ast.Ref) (bool, error) {
	rules := c.GetRulesExact(ref)
	for _, r := range rules {
		if len(r.Head.Args) > 0 {
			return false, fmt.Errorf("%v (%v) must be a set of event names, not a function", ref, r.Location)
		}
	}
	return len(rules) > 0, nil
}
