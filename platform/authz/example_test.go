package authz_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/tmf-platform/tmf/platform/authz"
)

func ExampleEngine_Decide() {
	ctx := context.Background()
	e, err := authz.New(ctx, authz.Options{}) // the embedded default policy
	if err != nil {
		panic(err)
	}
	agent := authz.Principal{ID: "agent-7", Roles: []string{"agent"}, OrgPath: "/hq/east/"}
	order := &authz.Resource{Type: "order", ID: "o-1", BuyerID: "alice", OwnerPath: "/hq/east/sh-01/", BizCode: "retail"}

	for _, action := range []string{"order.read", "order.pay"} {
		d, err := e.Decide(ctx, authz.Input{Principal: agent, Action: action, Resource: order})
		if err != nil {
			panic(err) // a real handler denies
		}
		fmt.Printf("%s: allow=%v visible=%v\n", action, d.Allow, d.Visible)
	}
	ship := *order
	ship.Event = "ship"
	d, err := e.Decide(ctx, authz.Input{Principal: agent, Action: "order.event", Resource: &ship})
	if err != nil {
		panic(err)
	}
	fmt.Printf("order.event ship: allow=%v permitted=%v\n", d.Allow, d.Events)
	// Output:
	// order.read: allow=true visible=true
	// order.pay: allow=false visible=true
	// order.event ship: allow=false permitted=[cancel receive]
}

func ExampleEngine_Filter() {
	ctx := context.Background()
	e, err := authz.New(ctx, authz.Options{})
	if err != nil {
		panic(err)
	}
	agent := authz.Principal{ID: "agent-7", Roles: []string{"agent"}, OrgPath: "/hq/east/"}
	f, err := e.Filter(ctx, agent, "order.list")
	if err != nil {
		panic(err) // a real handler denies
	}
	// SQL: buyer_id IN ('', 'agent-7') OR owner_path LIKE '/hq/east/%'
	fmt.Println("all:", f.All)
	for _, conj := range f.Any {
		var and []string
		for _, c := range conj {
			and = append(and, fmt.Sprintf("%s %s %q", c.Field, c.Op, c.Values))
		}
		fmt.Println("or:", strings.Join(and, " and "))
	}
	// Output:
	// all: false
	// or: buyer_id in ["" "agent-7"]
	// or: owner_path prefix ["/hq/east/"]
}
