package authz

import (
	"encoding/binary"
	"slices"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// maxCachedDecisions bounds a policy's decision cache; when it is full the
// cache starts again empty.
const maxCachedDecisions = 50_000

// decisionCache remembers the Decisions one compiled policy gave. Its key
// is exact: every input field the policy's rules can read (found by
// inputReads when the policy is compiled), whether a resource is present,
// and whether the permitted events were asked for. Two inputs with the same
// key are the same input as far as the policy can tell, so a remembered
// decision is the one the evaluation would give again: it can never widen
// (or narrow) access. It is built per compiled policy and dropped with it,
// so a reload forgets every decision; a principal whose roles, org or
// identities change has another key. A policy whose rules call a builtin
// with a changing answer gets no cache (see deterministic). Errors are not
// remembered.
type decisionCache struct {
	reads fieldSet
	mu    sync.RWMutex
	m     map[string]Decision
}

func newDecisionCache(c *ast.Compiler) *decisionCache {
	if !deterministic(c) {
		return nil
	}
	return &decisionCache{reads: inputReads(c), m: map[string]Decision{}}
}

func (c *decisionCache) get(key []byte) (Decision, bool) {
	if c == nil {
		return Decision{}, false
	}
	c.mu.RLock()
	d, ok := c.m[string(key)] // no allocation: the compiler sees the lookup
	c.mu.RUnlock()
	return d, ok
}

func (c *decisionCache) put(key []byte, d Decision) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedDecisions {
		clear(c.m)
	}
	c.m[string(key)] = d
}

// key appends the exact key of in (withEvents: the events were asked for)
// to buf. Every field is length-prefixed, so no two different projections
// share a key whatever bytes the fields hold.
func (c *decisionCache) key(buf []byte, in *Input, withEvents bool) []byte {
	var flags byte
	if in.Resource != nil {
		flags |= 1
	}
	if withEvents {
		flags |= 2
	}
	buf = append(buf, flags)
	str := func(f field, s string) {
		if c.reads.has(f) {
			buf = binary.AppendUvarint(buf, uint64(len(s)))
			buf = append(buf, s...)
		}
	}
	list := func(f field, ss []string) {
		if c.reads.has(f) {
			buf = binary.AppendUvarint(buf, uint64(len(ss)))
			for _, s := range ss {
				buf = binary.AppendUvarint(buf, uint64(len(s)))
				buf = append(buf, s...)
			}
		}
	}
	str(fAction, in.Action)
	p := &in.Principal
	str(fPrincipalID, p.ID)
	list(fPrincipalRoles, p.Roles)
	str(fPrincipalOrgPath, p.OrgPath)
	list(fPrincipalIdentities, p.Identities)
	if r := in.Resource; r != nil {
		str(fResourceType, r.Type)
		str(fResourceID, r.ID)
		str(fResourceBuyerID, r.BuyerID)
		str(fResourceOwnerPath, r.OwnerPath)
		str(fResourceBizCode, r.BizCode)
		str(fResourceEvent, r.Event)
	}
	return buf
}

// field is one leaf of the input (see Input.value).
type field uint

const (
	fAction field = iota
	fPrincipalID
	fPrincipalRoles
	fPrincipalOrgPath
	fPrincipalIdentities
	fResourceType
	fResourceID
	fResourceBuyerID
	fResourceOwnerPath
	fResourceBizCode
	fResourceEvent
	numFields
)

// fieldPaths are the input paths of the fields, as Input.value builds them.
var fieldPaths = [numFields][]string{
	fAction:              {"action"},
	fPrincipalID:         {"principal", "id"},
	fPrincipalRoles:      {"principal", "roles"},
	fPrincipalOrgPath:    {"principal", "org_path"},
	fPrincipalIdentities: {"principal", "identities"},
	fResourceType:        {"resource", fieldType},
	fResourceID:          {"resource", fieldID},
	fResourceBuyerID:     {"resource", fieldBuyerID},
	fResourceOwnerPath:   {"resource", fieldOwnerPath},
	fResourceBizCode:     {"resource", fieldBizCode},
	fResourceEvent:       {"resource", fieldEvent},
}

type fieldSet uint32

const allFields = fieldSet(1)<<numFields - 1

func (s fieldSet) has(f field) bool { return s&(1<<f) != 0 }

// inputReads is the set of input fields the compiled modules can read. A
// rule reads the input only through references rooted at input: for each,
// the constant part of its path (input.principal.roles → principal, roles;
// input.resource[k] → resource) selects every field under it or above it.
// A bare input (walk(input), json.marshal(input), input[k]) or a `with`
// that replaces part of the input selects every field.
func inputReads(c *ast.Compiler) fieldSet {
	var reads fieldSet
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		if reads == allFields {
			return true
		}
		switch x := x.(type) {
		case ast.Var:
			if x.Equal(ast.InputRootDocument.Value) {
				reads = allFields // input outside a reference path we can read
			}
		case *ast.With:
			if ref, ok := x.Target.Value.(ast.Ref); ok && ref.HasPrefix(ast.InputRootRef) {
				reads = allFields
			}
		case ast.Ref:
			if !x.HasPrefix(ast.InputRootRef) {
				return false
			}
			var path []string
			for _, t := range x[1:] {
				s, ok := t.Value.(ast.String)
				if !ok {
					break
				}
				path = append(path, string(s))
			}
			for f, fp := range fieldPaths {
				n := min(len(path), len(fp))
				if slices.Equal(path[:n], fp[:n]) {
					reads |= 1 << f
				}
			}
			for _, t := range x[1:] {
				vis.Walk(t) // refs inside the path, e.g. input.resource[input.action]
			}
			return true
		}
		return false
	})
	for _, m := range c.Modules {
		vis.Walk(m)
	}
	return reads
}

// volatileBuiltins are the builtins whose answer may change between two
// evaluations of the same input, beyond those OPA marks nondeterministic.
var volatileBuiltins = map[string]bool{"time.now_ns": true, "opa.runtime": true}

// deterministic reports whether the compiled modules give the same answer
// for the same input every time: none calls a builtin whose answer may
// change (time.now_ns, http.send, rand.intn, …). Only then may a policy's
// answers be remembered.
func deterministic(c *ast.Compiler) bool {
	volatile := false
	check := func(op ast.Ref) {
		name := op.String()
		if volatileBuiltins[name] {
			volatile = true
		} else if b, ok := ast.BuiltinMap[name]; ok && b.Nondeterministic {
			volatile = true
		}
	}
	for _, m := range c.Modules {
		// Calls are expressions after compilation; a call left inside a
		// term is checked too.
		ast.WalkExprs(m, func(x *ast.Expr) bool {
			if x.IsCall() {
				check(x.Operator())
			}
			return volatile
		})
		ast.WalkTerms(m, func(t *ast.Term) bool {
			if call, ok := t.Value.(ast.Call); ok && len(call) > 0 {
				if op, ok := call[0].Value.(ast.Ref); ok {
					check(op)
				}
			}
			return volatile
		})
	}
	return !volatile
}
