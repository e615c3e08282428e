package authz

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestFilterPerRole(t *testing.T) {
	e := newEngine(t, Options{})
	opTwo := Principal{ID: "op-two", Roles: []string{"operator"}, Identities: []string{"retail", "b2b", "retail"}}
	agentNoOrg := Principal{ID: "agent-none", Roles: []string{"agent"}}
	agentAndOperator := Principal{ID: "mixed", Roles: []string{"agent", "operator"}, OrgPath: "/hq/east/", Identities: []string{"retail"}}
	eq := func(field, v string) Conjunction {
		return Conjunction{{Field: field, Op: OpEqual, Values: []string{v}}}
	}
	// A principal's own rows and the unowned ones (buyer_id "").
	ownOrUnowned := func(id string) Conjunction {
		return Conjunction{{Field: "buyer_id", Op: OpIn, Values: []string{"", id}}}
	}
	prefix := func(p string) Conjunction {
		return Conjunction{{Field: "owner_path", Op: OpPrefix, Values: []string{p}}}
	}
	tests := []struct {
		name   string
		p      Principal
		action string
		want   Filter
	}{
		{"admin sees all", adminRoot, "order.list", Filter{All: true}},
		{"operator with * sees all", opAll, "order.list", Filter{All: true}},
		{"buyer sees own", buyerAlice, "order.list", Filter{Any: []Conjunction{ownOrUnowned("alice")}}},
		{"agent sees own or subtree", agentEast, "order.list", Filter{Any: []Conjunction{
			ownOrUnowned("agent-east"),
			prefix("/hq/east/"),
		}}},
		{"agent without org sees own", agentNoOrg, "order.list", Filter{Any: []Conjunction{ownOrUnowned("agent-none")}}},
		{"operator sees own or identity", opRetail, "order.list", Filter{Any: []Conjunction{
			eq("biz_code", "retail"),
			ownOrUnowned("op-retail"),
		}}},
		{"operator with two identities: in", opTwo, "order.list", Filter{Any: []Conjunction{
			{{Field: "biz_code", Op: OpIn, Values: []string{"b2b", "retail"}}},
			ownOrUnowned("op-two"),
		}}},
		{"roles combine", agentAndOperator, "order.list", Filter{Any: []Conjunction{
			eq("biz_code", "retail"),
			ownOrUnowned("mixed"),
			prefix("/hq/east/"),
		}}},
		{"unknown role may not list", strangerEve, "order.list", Filter{}},
		{"anonymous may not list", anonymous, "order.list", Filter{}},
		{"buyer may not use an admin list", buyerAlice, "admin.principals.read", Filter{}},
		{"admin list for admin", adminRoot, "admin.principals.read", Filter{All: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Filter(context.Background(), tt.p, tt.action)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(tt.want)) {
				t.Errorf("Filter =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

// normalize makes nil and empty slices compare equal.
func normalize(f Filter) Filter {
	if len(f.Any) == 0 {
		f.Any = nil
	}
	return f
}

func TestFilterOfTranslatesPartialQueries(t *testing.T) {
	tests := []struct {
		name    string
		queries []string
		want    Filter
		wantErr bool
	}{
		{"no queries: nothing", nil, Filter{}, false},
		{"empty query: all", []string{`input.resource.buyer_id = "a"`, ``}, Filter{All: true}, false},
		{"equality, ref on the left", []string{`input.resource.buyer_id = "a"`},
			Filter{Any: []Conjunction{{{Field: "buyer_id", Op: OpEqual, Values: []string{"a"}}}}}, false},
		{"equality, ref on the right", []string{`"a" = input.resource.buyer_id`},
			Filter{Any: []Conjunction{{{Field: "buyer_id", Op: OpEqual, Values: []string{"a"}}}}}, false},
		{"== is equality", []string{`input.resource.biz_code == "x"`},
			Filter{Any: []Conjunction{{{Field: "biz_code", Op: OpEqual, Values: []string{"x"}}}}}, false},
		{"prefix", []string{`startswith(input.resource.owner_path, "/a/")`},
			Filter{Any: []Conjunction{{{Field: "owner_path", Op: OpPrefix, Values: []string{"/a/"}}}}}, false},
		{"conjunction, sorted and deduplicated", []string{`startswith(input.resource.owner_path, "/a/"); input.resource.biz_code = "x"; input.resource.biz_code = "x"`},
			Filter{Any: []Conjunction{{
				{Field: "biz_code", Op: OpEqual, Values: []string{"x"}},
				{Field: "owner_path", Op: OpPrefix, Values: []string{"/a/"}},
			}}}, false},
		{"equalities on one field merge into in", []string{`input.resource.biz_code = "y"`, `input.resource.biz_code = "x"`, `input.resource.biz_code = "y"`},
			Filter{Any: []Conjunction{{{Field: "biz_code", Op: OpIn, Values: []string{"x", "y"}}}}}, false},
		{"duplicate conjunctions go", []string{`startswith(input.resource.owner_path, "/a/")`, `startswith(input.resource.owner_path, "/a/")`},
			Filter{Any: []Conjunction{{{Field: "owner_path", Op: OpPrefix, Values: []string{"/a/"}}}}}, false},
		{"negation", []string{`not input.resource.buyer_id = "a"`}, Filter{}, true},
		{"other builtin", []string{`endswith(input.resource.owner_path, "/a/")`}, Filter{}, true},
		{"inequality", []string{`input.resource.buyer_id != "a"`}, Filter{}, true},
		{"number constant", []string{`input.resource.buyer_id = 1`}, Filter{}, true},
		{"two refs", []string{`input.resource.buyer_id = input.resource.owner_path`}, Filter{}, true},
		{"deeper ref", []string{`input.resource.tags.vip = "a"`}, Filter{}, true},
		{"unknown field", []string{`input.resource.secret = "a"`}, Filter{}, true},
		{"not the resource", []string{`input.principal.id = "a"`}, Filter{}, true},
		{"data ref", []string{`data.x.buyer_id = "a"`}, Filter{}, true},
		{"prefix with ref as prefix", []string{`startswith("/a/", input.resource.owner_path)`}, Filter{}, true},
		{"one bad expression spoils all", []string{`input.resource.buyer_id = "a"`, `input.resource.buyer_id = "b"; x = 1`}, Filter{}, true},
		{"bare ref", []string{`input.resource.buyer_id`}, Filter{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var queries []ast.Body
			for _, q := range tt.queries {
				if q == "" {
					queries = append(queries, ast.NewBody())
					continue
				}
				queries = append(queries, ast.MustParseBody(q))
			}
			got, err := filterOf(queries)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(normalize(got), normalize(tt.want)) {
				t.Errorf("filterOf =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

// A policy whose visible cannot be turned into a filter denies the list
// instead of listing too much.
func TestFilterRefusesUntranslatablePolicies(t *testing.T) {
	for _, source := range []string{"testdata/support", "testdata/negated", "testdata/other_builtin", "testdata/deep_ref"} {
		t.Run(source, func(t *testing.T) {
			e := newEngine(t, Options{Source: source})
			f, err := e.Filter(context.Background(), buyerAlice, "order.list")
			if !errors.Is(err, ErrUnsupportedFilter) {
				t.Fatalf("err = %v, want ErrUnsupportedFilter", err)
			}
			if f.All || len(f.Any) > 0 {
				t.Errorf("Filter = %+v on error, want nothing", f)
			}
		})
	}
}

// The shipped policy partially evaluates to the forms the host can translate,
// with no support modules, for every kind of principal.
func TestShippedVisibleIsInlinable(t *testing.T) {
	e := newEngine(t, Options{})
	c := e.current.Load()
	principals := []Principal{buyerAlice, agentEast, opRetail, opAll, adminRoot, strangerEve, anonymous,
		{ID: "x", Roles: []string{"buyer", "agent", "operator"}, OrgPath: "/a/", Identities: []string{"p", "q", "", "*"}}}
	for _, p := range principals {
		pq, err := c.visible.Partial(context.Background(), regoInput(Input{Principal: p, Action: "order.list"}))
		if err != nil {
			t.Fatal(err)
		}
		if len(pq.Support) > 0 {
			t.Errorf("%s: support modules %v", p.ID, pq.Support)
		}
		for _, q := range pq.Queries {
			for _, expr := range q {
				if _, err := conditionOf(expr); err != nil {
					t.Errorf("%s: %v", p.ID, err)
				}
			}
		}
	}
}
