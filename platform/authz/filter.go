package authz

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Filter says which resources a principal may see, for a list query. A
// resource matches when All is true, or when it matches at least one
// Conjunction of Any. The zero Filter matches nothing.
type Filter struct {
	All bool
	Any []Conjunction
}

// Conjunction matches a resource when every one of its conditions holds.
type Conjunction []Condition

// Condition compares one resource field with constant values.
type Condition struct {
	// Field is the snake_case input.resource field: "buyer_id", "owner_path",
	// "biz_code", "type", "id" or "event".
	Field string
	Op    Op
	// Values are raw strings; a SQL translation must pass them as parameters
	// and, for OpPrefix, escape the LIKE metacharacters (%, _ and the escape
	// character).
	Values []string
}

// Op is a comparison of a Condition.
type Op string

const (
	// OpEqual: field == Values[0].
	OpEqual Op = "eq"
	// OpPrefix: field starts with Values[0].
	OpPrefix Op = "prefix"
	// OpIn: field is one of Values.
	OpIn Op = "in"
)

// Filter computes which resources principal p may see in the list
// answered by action (for instance "order.list"). If the principal may not
// perform action at all, it returns the zero Filter: nothing. Otherwise it
// partially evaluates visible with the resource unknown and translates the
// result. Any error means "deny": it wraps ErrEvaluation, or
// ErrUnsupportedFilter when the policy's visible rule yields something that
// is not a comparison of a resource field with a constant string.
//
// Filters are remembered per policy (see filterCache): a principal listing
// again costs a map lookup until the policy is replaced. The returned
// Filter is shared: callers must not modify it.
func (e *Engine) Filter(ctx context.Context, p Principal, action string) (Filter, error) {
	c := e.current.Load()
	key := filterKey(p, action)
	if f, ok := c.filters.get(key); ok {
		return f, nil
	}
	f, err := e.filter(ctx, c, p, action)
	if err == nil {
		c.filters.put(key, f)
	}
	return f, err
}

func (e *Engine) filter(ctx context.Context, c *compiledPolicy, p Principal, action string) (Filter, error) {
	in := Input{Principal: p, Action: action}
	ok, err := e.allowed(ctx, c, in)
	if err != nil {
		return Filter{}, err
	}
	if !ok {
		return Filter{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	cancelOpt, stop := evalCancel(ctx)
	pq, err := c.visible.Partial(ctx, rego.EvalParsedInput(in.value()), rego.EvalMetrics(noMetrics), cancelOpt)
	stop()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return Filter{}, fmt.Errorf("%w: %s: partial evaluation of visible: %w", ErrEvaluation, action, err)
	}
	if len(pq.Support) > 0 {
		return Filter{}, fmt.Errorf("%w: %s: visible needs support rules (%d modules); make it inlinable", ErrUnsupportedFilter, action, len(pq.Support))
	}
	f, err := filterOf(pq.Queries)
	if err != nil {
		return Filter{}, fmt.Errorf("%w: %s: %w", ErrUnsupportedFilter, action, err)
	}
	return f, nil
}

// filterOf translates the queries of a partial evaluation (a disjunction of
// conjunctions) into a canonical Filter: equalities of single-condition
// disjuncts on one field merge into OpIn, duplicates go, and the order is
// sorted so that equal policies give equal filters.
func filterOf(queries []ast.Body) (Filter, error) {
	var conjs []Conjunction
	for _, q := range queries {
		if len(q) == 0 {
			return Filter{All: true}, nil
		}
		conj := make(Conjunction, 0, len(q))
		for _, expr := range q {
			cond, err := conditionOf(expr)
			if err != nil {
				return Filter{}, err
			}
			conj = append(conj, cond)
		}
		slices.SortFunc(conj, compareConditions)
		conj = slices.CompactFunc(conj, equalConditions)
		conjs = append(conjs, conj)
	}

	// Merge `field = a OR field = b` into `field IN (a, b)`.
	inValues := map[string][]string{}
	var rest []Conjunction
	for _, conj := range conjs {
		if len(conj) == 1 && conj[0].Op == OpEqual {
			inValues[conj[0].Field] = append(inValues[conj[0].Field], conj[0].Values[0])
			continue
		}
		rest = append(rest, conj)
	}
	for field, values := range inValues {
		slices.Sort(values)
		values = slices.Compact(values)
		op := OpIn
		if len(values) == 1 {
			op = OpEqual
		}
		rest = append(rest, Conjunction{{Field: field, Op: op, Values: values}})
	}
	slices.SortFunc(rest, compareConjunctions)
	rest = slices.CompactFunc(rest, func(a, b Conjunction) bool { return compareConjunctions(a, b) == 0 })
	return Filter{Any: rest}, nil
}

// resourceFields are the fields a condition may name: those of Resource.
var resourceFields = map[string]bool{
	fieldType: true, fieldID: true, fieldBuyerID: true,
	fieldOwnerPath: true, fieldBizCode: true, fieldEvent: true,
}

// conditionOf translates one expression of a partial-evaluation query. It
// accepts `input.resource.F = "c"` (either side, also with ==) and
// `startswith(input.resource.F, "c")`, nothing else.
func conditionOf(expr *ast.Expr) (Condition, error) {
	if expr.Negated || len(expr.With) > 0 || !expr.IsCall() {
		return Condition{}, fmt.Errorf("unsupported expression %v", expr)
	}
	op := expr.Operator()
	args := expr.Operands()
	if len(args) != 2 {
		return Condition{}, fmt.Errorf("unsupported expression %v", expr)
	}
	switch {
	case op.Equal(ast.Equality.Ref()) || op.Equal(ast.Equal.Ref()):
		if field, ok := resourceField(args[0]); ok {
			if v, ok := args[1].Value.(ast.String); ok {
				return Condition{Field: field, Op: OpEqual, Values: []string{string(v)}}, nil
			}
		}
		if field, ok := resourceField(args[1]); ok {
			if v, ok := args[0].Value.(ast.String); ok {
				return Condition{Field: field, Op: OpEqual, Values: []string{string(v)}}, nil
			}
		}
	case op.Equal(ast.StartsWith.Ref()):
		if field, ok := resourceField(args[0]); ok {
			if v, ok := args[1].Value.(ast.String); ok {
				return Condition{Field: field, Op: OpPrefix, Values: []string{string(v)}}, nil
			}
		}
	}
	return Condition{}, fmt.Errorf("unsupported expression %v", expr)
}

// resourceField returns F for the term input.resource.F, F a Resource field.
func resourceField(t *ast.Term) (string, bool) {
	ref, ok := t.Value.(ast.Ref)
	if !ok || len(ref) != 3 || !ref[0].Equal(ast.InputRootDocument) {
		return "", false
	}
	if s, ok := ref[1].Value.(ast.String); !ok || s != "resource" {
		return "", false
	}
	s, ok := ref[2].Value.(ast.String)
	if !ok || !resourceFields[string(s)] {
		return "", false
	}
	return string(s), true
}

func compareConditions(a, b Condition) int {
	return cmp.Or(
		strings.Compare(a.Field, b.Field),
		strings.Compare(string(a.Op), string(b.Op)),
		slices.Compare(a.Values, b.Values),
	)
}

func equalConditions(a, b Condition) bool { return compareConditions(a, b) == 0 }

func compareConjunctions(a, b Conjunction) int {
	return slices.CompareFunc(a, b, compareConditions)
}
