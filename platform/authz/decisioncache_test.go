package authz

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The shipped policy reads the principal, the action and four fields of the
// resource; not its id nor its type, which therefore do not split the cache.
func TestInputReadsOfTheShippedPolicy(t *testing.T) {
	e := newEngine(t, Options{})
	c := e.current.Load().decisions
	if c == nil {
		t.Fatal("the shipped policy has no decision cache")
	}
	want := allFields &^ (1<<fResourceType | 1<<fResourceID)
	if c.reads != want {
		t.Fatalf("reads = %b, want %b", c.reads, want)
	}
}

// A policy's reads are every field under or above the constant part of a
// reference to the input; a bare input or a `with` on it is every field.
func TestInputReads(t *testing.T) {
	const resource = 1<<fResourceType | 1<<fResourceID | 1<<fResourceBuyerID | 1<<fResourceOwnerPath |
		1<<fResourceBizCode | 1<<fResourceEvent
	for _, tc := range []struct {
		name, rules string
		want        fieldSet
	}{
		{"one field", `allow if input.resource.id == "x"`, 1 << fResourceID},
		{"two fields", "allow if input.resource.type == \"x\"\n\nvisible if input.action == \"y\"", 1<<fResourceType | 1<<fAction},
		{"below a field", `allow if input.principal.roles[0] == "admin"`, 1 << fPrincipalRoles},
		{"whole resource", `allow if count(input.resource) > 3`, resource},
		{"variable key", `allow if input.resource[k] == "x"`, resource},
		{"variable key under a read", `allow if input.resource[input.action] == "x"`, resource | 1<<fAction},
		{"unknown field", `allow if input.resource.colour == "red"`, 0},
		{"bare input", `allow if walk(input, [_, "x"])`, allFields},
		{"input by key", `allow if input[k] == "x"`, allFields},
		{"with", "allow if { p with input.principal.id as \"root\" }\n\np if input.principal.id == \"root\"", allFields},
		{"function", "allow if f(input.resource.buyer_id)\n\nf(x) if x == input.principal.id", 1<<fResourceBuyerID | 1<<fPrincipalID},
		// The compiler resolves p.id to input.principal.id.
		{"import", "import input.principal as p\n\nallow if p.id == \"x\"", 1 << fPrincipalID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rules := tc.rules
			imports := ""
			if strings.HasPrefix(rules, "import ") {
				imports, rules, _ = strings.Cut(rules, "\n\n")
				imports += "\n\n"
			}
			writeFile(t, filepath.Join(dir, "p.rego"), "package tmf.authz\n\n"+imports+"default allow := false\n\ndefault visible := false\n\n"+rules+"\n")
			e := newEngine(t, Options{Source: dir})
			c := e.current.Load().decisions
			if c == nil {
				t.Fatal("no decision cache")
			}
			if c.reads != tc.want {
				t.Fatalf("reads = %b, want %b", c.reads, tc.want)
			}
		})
	}
}

// Keys are length-prefixed: inputs whose fields concatenate to the same
// bytes, or that differ only in whether a resource or events are present,
// get different keys.
func TestDecisionKeysAreExact(t *testing.T) {
	c := &decisionCache{reads: allFields}
	pairs := []struct {
		a, b             Input
		eventsA, eventsB bool
	}{
		{a: Input{Principal: Principal{Roles: []string{"a", "b"}}}, b: Input{Principal: Principal{Roles: []string{"a\x00b"}}}},
		{a: Input{Principal: Principal{Roles: []string{"ab"}}}, b: Input{Principal: Principal{Roles: []string{"a", "b"}}}},
		{a: Input{Principal: Principal{ID: "a", OrgPath: "b"}}, b: Input{Principal: Principal{ID: "ab"}}},
		{a: Input{Principal: Principal{Roles: []string{""}}}, b: Input{Principal: Principal{Identities: []string{""}}}},
		{a: Input{Action: "x"}, b: Input{Action: "x", Resource: &Resource{}}},
		{a: Input{Action: "x", Resource: &Resource{BuyerID: "u", BizCode: ""}}, b: Input{Action: "x", Resource: &Resource{BuyerID: "", BizCode: "u"}}},
		{a: Input{Action: "x", Resource: &Resource{Event: "pay"}}, b: Input{Action: "x", Resource: &Resource{Event: "pay"}}, eventsA: true},
	}
	for i, p := range pairs {
		ka := c.key(nil, &p.a, p.eventsA)
		kb := c.key(nil, &p.b, p.eventsB)
		if bytes.Equal(ka, kb) {
			t.Errorf("pair %d: %+v and %+v share the key %q", i, p.a, p.b, ka)
		}
	}
	// Fields the policy does not read do not split the cache.
	c.reads = allFields &^ (1 << fResourceID)
	a := Input{Action: "order.read", Resource: &Resource{ID: "o-1"}}
	b := Input{Action: "order.read", Resource: &Resource{ID: "o-2"}}
	if !bytes.Equal(c.key(nil, &a, false), c.key(nil, &b, false)) {
		t.Error("an unread field splits the cache")
	}
}

// Over many inputs, repeated and varied, a remembered decision is always
// the one the evaluation gives: for the shipped policy, and for a policy
// that reads the order id (which the shipped one does not), so that the
// cache must not share decisions across orders.
func TestRememberedDecisionsEqualEvaluated(t *testing.T) {
	t.Parallel()
	byID := t.TempDir()
	writeFile(t, filepath.Join(byID, "p.rego"), `package tmf.authz

default allow := false

default visible := false

visible if input.resource.buyer_id == input.principal.id

allow if {
	visible
	endswith(input.resource.id, "7")
}

permitted_events contains "cancel" if allow
`)
	actions := []string{"order.read", "order.event", "order.pay", "order.return", "order.return.approve",
		"order.place", "order.list", "catalog.read", "admin.skus.write", "identity.read", "me.read"}
	events := []string{"", "cancel", "receive", "pay", "ship"}
	for name, source := range map[string]string{"shipped": "", "reads the id": byID} {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, Options{Source: source})
			c := e.current.Load()
			if c.decisions == nil {
				t.Fatal("no decision cache")
			}
			rng := rand.New(rand.NewPCG(5, 6))
			tree := newOrgTree(rng, 40)
			pool := make([]sample, 40) // few principal/order pairs: inputs repeat
			for i := range pool {
				pool[i] = randomSample(rng, tree)
			}
			ctx := context.Background()
			var hits int
			for i := range 4000 {
				s := pool[rng.IntN(len(pool))]
				s.r.ID = fmt.Sprintf("o-%d", rng.IntN(20))
				s.r.Event = events[rng.IntN(len(events))]
				in := Input{Principal: s.p, Action: actions[rng.IntN(len(actions))], Resource: &s.r}
				if rng.IntN(8) == 0 {
					in.Resource = nil
				}
				want, err := e.decide(ctx, c, in)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := c.decisions.get(c.decisions.key(nil, &in, c.withEvents(in))); ok {
					hits++
				}
				got, err := e.Decide(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("input %d %+v (resource %+v): Decide = %+v, evaluated %+v", i, in, in.Resource, got, want)
				}
			}
			if hits < 1000 {
				t.Fatalf("only %d of 4000 decisions came from the cache: the test proves little", hits)
			}
		})
	}
}

// A reload forgets every decision: the new policy answers at once.
func TestDecisionCacheFollowsThePolicy(t *testing.T) {
	dir := copyTree(t, DefaultPolicy())
	e := newEngine(t, Options{Source: dir})
	ctx := context.Background()
	in := Input{Principal: agentEast, Action: "order.read",
		Resource: &Resource{Type: "order", ID: "o-1", BuyerID: "someone", OwnerPath: "/hq/east/sh-01/", BizCode: "retail"}}
	for range 2 {
		if d, err := e.Decide(ctx, in); err != nil || !d.Allow || !d.Visible {
			t.Fatalf("before the reload: %+v, %v", d, err)
		}
	}
	// The same principal moved elsewhere in the tree is another key: the
	// decision remembered for its old place does not follow it.
	moved := in
	moved.Principal.OrgPath = "/hq/west/"
	if d, err := e.Decide(ctx, moved); err != nil || d.Allow || d.Visible {
		t.Fatalf("a moved agent keeps its old subtree: %+v, %v", d, err)
	}
	dropSubtreeRule(t, e, dir)
	if d, err := e.Decide(ctx, in); err != nil || d.Allow || d.Visible {
		t.Fatalf("after the reload the agent still reaches its subtree: %+v, %v", d, err)
	}
}
