package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// The principals of the decision tables.
var (
	buyerAlice  = Principal{ID: "alice", Roles: []string{"buyer"}}
	agentEast   = Principal{ID: "agent-east", Roles: []string{"agent"}, OrgPath: "/hq/east/"}
	opRetail    = Principal{ID: "op-retail", Roles: []string{"operator"}, Identities: []string{"retail"}}
	opAll       = Principal{ID: "op-all", Roles: []string{"operator"}, Identities: []string{"*"}}
	adminRoot   = Principal{ID: "root", Roles: []string{"admin"}}
	strangerEve = Principal{ID: "eve", Roles: []string{"auditor"}, OrgPath: "/hq/", Identities: []string{"*"}}
	anonymous   = Principal{Roles: []string{"admin"}}
)

// Resources relative to a principal: its own order (outside every subtree and
// identity it has), an order in agentEast's subtree of identity retail, and
// an order that is neither.
func ownOrder(p Principal) Resource {
	return Resource{Type: "order", ID: "o-own", BuyerID: p.ID, OwnerPath: "/hq/west/x/", BizCode: "b2b"}
}

var (
	subtreeOrder = Resource{Type: "order", ID: "o-sub", BuyerID: "zoe", OwnerPath: "/hq/east/sh-01/", BizCode: "retail"}
	otherOrder   = Resource{Type: "order", ID: "o-other", BuyerID: "zoe", OwnerPath: "/hq/west/bj-01/", BizCode: "b2b"}
)

// own, subtree, other
type triple [3]bool

func TestDecideOrderActions(t *testing.T) {
	e := newEngine(t, Options{})
	principals := map[string]Principal{
		"buyer": buyerAlice, "agent": agentEast, "operator": opRetail, "admin": adminRoot, "stranger": strangerEve,
	}
	visibleTo := map[string]triple{
		"buyer": {true, false, false}, "agent": {true, true, false}, "operator": {true, true, false},
		"admin": {true, true, true}, "stranger": {true, false, false},
	}
	tests := []struct {
		action, event string
		want          map[string]triple
	}{
		{"order.read", "", visibleTo},
		{"order.trace", "", visibleTo},
		{"order.payments.read", "", visibleTo},
		{"order.returns.read", "", visibleTo},
		{"order.return", "", map[string]triple{
			"buyer": {true, false, false}, "agent": {true, true, false}, "operator": {}, "admin": {}, "stranger": {},
		}},
		{"order.return.cancel", "", map[string]triple{
			"buyer": {true, false, false}, "agent": {true, true, false}, "operator": {}, "admin": {}, "stranger": {},
		}},
		{"order.return.approve", "", map[string]triple{
			"buyer": {}, "agent": {}, "operator": {true, true, false}, "admin": {true, true, true}, "stranger": {},
		}},
		{"order.return.reject", "", map[string]triple{
			"buyer": {}, "agent": {}, "operator": {true, true, false}, "admin": {true, true, true}, "stranger": {},
		}},
		{"order.return.receive", "", map[string]triple{
			"buyer": {}, "agent": {}, "operator": {true, true, false}, "admin": {true, true, true}, "stranger": {},
		}},
		{"order.pay", "", map[string]triple{
			"buyer": {true, false, false}, "agent": {true, false, false}, "operator": {}, "admin": {}, "stranger": {},
		}},
		{"order.event", "cancel", map[string]triple{
			"buyer": {true, false, false}, "agent": {true, true, false}, "operator": {true, true, false},
			"admin": {true, true, true}, "stranger": {},
		}},
		{"order.event", "receive", map[string]triple{
			"buyer": {true, false, false}, "agent": {true, true, false}, "operator": {true, true, false},
			"admin": {true, true, true}, "stranger": {},
		}},
		{"order.event", "ship", map[string]triple{
			"buyer": {}, "agent": {}, "operator": {true, true, false}, "admin": {true, true, true}, "stranger": {},
		}},
		{"order.teleport", "", map[string]triple{}}, // unknown action: nobody
	}
	for _, tt := range tests {
		for name, p := range principals {
			for i, r := range []Resource{ownOrder(p), subtreeOrder, otherOrder} {
				label := [3]string{"own", "subtree", "other"}[i]
				t.Run(fmt.Sprintf("%s %s/%s/%s", tt.action, tt.event, name, label), func(t *testing.T) {
					r.Event = tt.event
					d, err := e.Decide(context.Background(), Input{Principal: p, Action: tt.action, Resource: &r})
					if err != nil {
						t.Fatal(err)
					}
					if d.Allow != tt.want[name][i] {
						t.Errorf("Allow = %v, want %v", d.Allow, tt.want[name][i])
					}
					if d.Visible != visibleTo[name][i] {
						t.Errorf("Visible = %v, want %v", d.Visible, visibleTo[name][i])
					}
				})
			}
		}
	}
}

func TestDecideFunctionActions(t *testing.T) {
	e := newEngine(t, Options{})
	all := []Principal{buyerAlice, agentEast, opRetail, adminRoot, strangerEve, anonymous}
	only := func(ps ...Principal) []Principal { return ps }
	tests := []struct {
		action string
		want   []Principal // allowed; everyone else in all is denied
	}{
		{"admin.skus.write", only(adminRoot)},
		{"admin.stock.write", only(adminRoot)},
		{"admin.locations", only(adminRoot)},
		{"admin.stock.audit", only(adminRoot)},
		{"admin.principals.create", only(adminRoot)},
		{"admin.principals.read", only(adminRoot)},
		{"admin.orgs.read", only(adminRoot)},
		{"admin.orgs.write", only(adminRoot)},
		{"admin.bizpacks.read", only(adminRoot)},
		{"admin.bizpacks.write", only(adminRoot)},
		{"admin.promotions.read", only(adminRoot)},
		{"admin.promotions.write", only(adminRoot)},
		{"admin.credit.read", only(adminRoot)},
		{"admin.credit.write", only(adminRoot)},
		{"admin.policies.read", only(adminRoot)},
		{"admin.policies.write", only(adminRoot)},
		{"admin.not.yet.invented", only(adminRoot)},
		{"administer", only()},
		{"catalog.read", only(buyerAlice, agentEast, opRetail, adminRoot)},
		{"order.place", only(buyerAlice, agentEast)},
		{"order.list", only(buyerAlice, agentEast, opRetail, adminRoot)},
		{"credit.read_own", only(agentEast)},
		{"", only()},
	}
	for _, tt := range tests {
		for _, p := range all {
			want := slices.ContainsFunc(tt.want, func(q Principal) bool { return q.ID == p.ID })
			t.Run(fmt.Sprintf("%s/%q", tt.action, p.ID), func(t *testing.T) {
				d, err := e.Decide(context.Background(), Input{Principal: p, Action: tt.action})
				if err != nil {
					t.Fatal(err)
				}
				if d.Allow != want {
					t.Errorf("Allow = %v, want %v", d.Allow, want)
				}
			})
		}
	}
}

func TestDecideCouponRead(t *testing.T) {
	e := newEngine(t, Options{})
	owned := Resource{Type: "coupon", ID: "c-1", BuyerID: "alice", BizCode: "retail"}
	unowned := Resource{Type: "coupon", ID: "c-2"}
	bob := Principal{ID: "bob", Roles: []string{"buyer"}}
	tests := []struct {
		name        string
		p           Principal
		r           Resource
		allow, seen bool
	}{
		{"owner", buyerAlice, owned, true, true},
		{"another buyer", bob, owned, false, false},
		{"operator of its identity", opRetail, owned, true, true},
		{"admin", adminRoot, owned, true, true},
		{"buyer, unowned", bob, unowned, true, true},
		{"agent, unowned", agentEast, unowned, true, true},
		{"operator, unowned", opRetail, unowned, true, true},
		{"unknown role, unowned", strangerEve, unowned, false, false},
		{"anonymous, unowned", anonymous, unowned, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), Input{Principal: tt.p, Action: "coupon.read", Resource: &tt.r})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.allow || d.Visible != tt.seen {
				t.Errorf("Allow, Visible = %v, %v; want %v, %v", d.Allow, d.Visible, tt.allow, tt.seen)
			}
		})
	}
}

func TestDecidePermittedEvents(t *testing.T) {
	e := newEngine(t, Options{})
	tests := []struct {
		name string
		p    Principal
		r    Resource
		want []string
	}{
		{"admin: all", adminRoot, otherOrder, []string{"*"}},
		{"operator on its identity: all", opRetail, subtreeOrder, []string{"*"}},
		{"operator elsewhere: none", opRetail, otherOrder, nil},
		{"operator with *: all", opAll, otherOrder, []string{"*"}},
		{"buyer on own: buyer events", buyerAlice, ownOrder(buyerAlice), []string{"cancel", "receive"}},
		{"buyer on another's: none", buyerAlice, subtreeOrder, nil},
		{"agent in subtree: agent events", agentEast, subtreeOrder, []string{"cancel", "receive"}},
		{"agent elsewhere: none", agentEast, otherOrder, nil},
		{"unknown role on own: none", strangerEve, ownOrder(strangerEve), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The events do not depend on the action, but are evaluated only
			// for an input naming an event.
			for _, action := range []string{"order.read", "order.event"} {
				r := tt.r
				r.Event = "ship"
				d, err := e.Decide(context.Background(), Input{Principal: tt.p, Action: action, Resource: &r})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(d.Events, tt.want) {
					t.Errorf("%s: Events = %q, want %q", action, d.Events, tt.want)
				}
				r.Event = ""
				if d, err = e.Decide(context.Background(), Input{Principal: tt.p, Action: action, Resource: &r}); err != nil {
					t.Fatal(err)
				}
				if d.Events != nil {
					t.Errorf("%s without an event: Events = %q, want none evaluated", action, d.Events)
				}
			}
		})
	}
}

// Every evaluation failure is an error with the zero Decision: callers deny.
func TestDecideErrorsDeny(t *testing.T) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	order := &Resource{Type: "order", BuyerID: "alice"}
	tests := []struct {
		name    string
		source  string
		timeout int // milliseconds; 0 = default
		ctx     context.Context
		in      Input
		wantIs  error
	}{
		{"conflicting complete rule", "testdata/conflict", 0, ctx,
			Input{Principal: buyerAlice, Action: "order.read", Resource: order}, ErrEvaluation},
		{"non-boolean allow", "testdata/nonbool", 0, ctx,
			Input{Principal: buyerAlice, Action: "order.read"}, ErrEvaluation},
		{"undefined allow", "testdata/undefined", 0, ctx,
			Input{Principal: buyerAlice, Action: "order.read"}, ErrEvaluation},
		{"timeout", "testdata/slow", 1, ctx,
			Input{Principal: buyerAlice, Action: "order.read"}, context.DeadlineExceeded},
		{"cancelled caller", "", 0, cancelled,
			Input{Principal: adminRoot, Action: "order.read", Resource: order}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, Options{Source: tt.source, Timeout: msec(tt.timeout)})
			d, err := e.Decide(tt.ctx, tt.in)
			if !errors.Is(err, tt.wantIs) || !errors.Is(err, ErrEvaluation) {
				t.Fatalf("err = %v, want %v and ErrEvaluation", err, tt.wantIs)
			}
			if d.Allow || d.Visible || d.Events != nil {
				t.Errorf("Decision = %+v on error, want the zero value", d)
			}
			// The list filter denies in the same way.
			f, err := e.Filter(tt.ctx, tt.in.Principal, tt.in.Action)
			if err == nil || f.All || len(f.Any) > 0 {
				t.Errorf("Filter = %+v, %v; want nothing and an error", f, err)
			}
		})
	}
}

// The conflict is only for alice: for anyone else the policy answers, so the
// error above comes from the conflict and not from a broken engine.
func TestConflictIsInputDependent(t *testing.T) {
	e := newEngine(t, Options{Source: "testdata/conflict"})
	d, err := e.Decide(context.Background(), Input{Principal: agentEast, Action: "order.read"})
	if err != nil || !d.Allow {
		t.Fatalf("Decide = %+v, %v; want allowed", d, err)
	}
}

// data.json documents are loaded with the policy.
func TestDecideReadsPolicyData(t *testing.T) {
	e := newEngine(t, Options{Source: "testdata/with_data"})
	for event, want := range map[string]bool{"cancel": true, "receive": true, "ship": false} {
		d, err := e.Decide(context.Background(), Input{Principal: buyerAlice, Action: "order.event", Resource: &Resource{Event: event}})
		if err != nil {
			t.Fatal(err)
		}
		if d.Allow != want || !slices.Equal(d.Events, []string{"cancel", "receive"}) {
			t.Errorf("%s: Decide = %+v, want Allow %v and events [cancel receive]", event, d, want)
		}
	}
}
