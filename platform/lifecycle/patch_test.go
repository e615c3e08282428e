package lifecycle_test

import (
	"reflect"
	"testing"

	lc "github.com/tmf-platform/tmf/platform/lifecycle"
)

func stateNames(g *lc.Graph) []string {
	var names []string
	for _, s := range g.States {
		names = append(names, s.Name)
	}
	return names
}

func TestApplyProducts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		patch      lc.Patch
		wantName   string
		wantStates []string
		wantEdges  []lc.Edge
	}{
		{
			name: "virtual goods skip review and shipping",
			patch: lc.Patch{
				Name: "virtual",
				RemoveStates: []string{lc.PendingReview, lc.PendingOutbound, lc.PendingInbound,
					lc.Rejected, lc.OutboundFailed, lc.InboundFailed},
				Retarget: map[string]string{lc.EventPay: lc.Completed},
			},
			wantName:   "virtual",
			wantStates: []string{lc.Created, lc.PendingPayment, lc.Completed, lc.PaymentFailed, lc.Cancelled},
			wantEdges: []lc.Edge{
				{From: lc.Created, Event: lc.EventCancel, To: lc.Cancelled},
				{From: lc.Created, Event: lc.EventPlace, To: lc.PendingPayment},
				{From: lc.PendingPayment, Event: lc.EventCancel, To: lc.Cancelled},
				{From: lc.PendingPayment, Event: lc.EventPay, To: lc.Completed},
				{From: lc.PendingPayment, Event: lc.EventPaymentFail, To: lc.PaymentFailed},
				{From: lc.PendingPayment, Event: lc.EventPaymentTimeout, To: lc.Cancelled},
			},
		},
		{
			name: "standard retail skips review",
			patch: lc.Patch{
				RemoveStates: []string{lc.PendingReview, lc.Rejected},
				Retarget:     map[string]string{lc.EventPay: lc.PendingOutbound},
			},
			wantName: "distribution",
			wantStates: []string{lc.Created, lc.PendingPayment, lc.PendingOutbound, lc.PendingInbound,
				lc.Completed, lc.PaymentFailed, lc.OutboundFailed, lc.InboundFailed, lc.Cancelled},
			wantEdges: []lc.Edge{
				{From: lc.Created, Event: lc.EventCancel, To: lc.Cancelled},
				{From: lc.Created, Event: lc.EventPlace, To: lc.PendingPayment},
				{From: lc.PendingInbound, Event: lc.EventInboundFail, To: lc.InboundFailed},
				{From: lc.PendingInbound, Event: lc.EventReceive, To: lc.Completed},
				{From: lc.PendingOutbound, Event: lc.EventCancel, To: lc.Cancelled},
				{From: lc.PendingOutbound, Event: lc.EventOutboundFail, To: lc.OutboundFailed},
				{From: lc.PendingOutbound, Event: lc.EventShip, To: lc.PendingInbound},
				{From: lc.PendingPayment, Event: lc.EventCancel, To: lc.Cancelled},
				{From: lc.PendingPayment, Event: lc.EventPay, To: lc.PendingOutbound},
				{From: lc.PendingPayment, Event: lc.EventPaymentFail, To: lc.PaymentFailed},
				{From: lc.PendingPayment, Event: lc.EventPaymentTimeout, To: lc.Cancelled},
			},
		},
		{
			name: "redefine an event to add effects",
			patch: lc.Patch{
				RemoveEvents: []string{lc.EventPay},
				AddEvents:    []lc.Event{{Name: lc.EventPay, From: []string{lc.PendingPayment}, To: lc.PendingReview, Effects: []string{"confirm_stock"}}},
			},
			wantName:   "distribution",
			wantStates: allStates,
			wantEdges:  defaultEdges,
		},
		{
			name: "add a state and its events",
			patch: lc.Patch{
				AddStates: []lc.State{{Name: "on_hold", Doc: "Held by risk control."}},
				AddEvents: []lc.Event{
					{Name: "hold", From: []string{lc.PendingReview}, To: "on_hold"},
					{Name: "release", From: []string{"on_hold"}, To: lc.PendingReview},
				},
			},
			wantName:   "distribution",
			wantStates: append(append([]string{}, allStates...), "on_hold"),
			wantEdges: []lc.Edge{
				defaultEdges[0], defaultEdges[1], // created
				{From: "on_hold", Event: "release", To: lc.PendingReview},
				defaultEdges[2], defaultEdges[3], // pending_inbound
				defaultEdges[4], defaultEdges[5], defaultEdges[6], // pending_outbound
				defaultEdges[7], defaultEdges[8], defaultEdges[9], defaultEdges[10], // pending_payment
				defaultEdges[11], defaultEdges[12], // pending_review approve, cancel
				{From: lc.PendingReview, Event: "hold", To: "on_hold"},
				defaultEdges[13], // pending_review reject
			},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := lc.Default()
			got, err := base.Apply(tt.patch)
			if err != nil {
				t.Fatalf("Apply = %v", err)
			}
			if !reflect.DeepEqual(base, lc.Default()) {
				t.Error("Apply modified its receiver")
			}
			if got.Name != tt.wantName || got.Initial != lc.Created {
				t.Errorf("name, initial = %q, %q; want %q, created", got.Name, got.Initial, tt.wantName)
			}
			if names := stateNames(got); !reflect.DeepEqual(names, tt.wantStates) {
				t.Errorf("states = %v; want %v", names, tt.wantStates)
			}
			if edges := got.Edges(); !reflect.DeepEqual(edges, tt.wantEdges) {
				t.Errorf("edges =\n%v\nwant\n%v", edges, tt.wantEdges)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("result does not validate: %v", err)
			}
		})
	}
}

func TestApplyKeepsEffects(t *testing.T) {
	t.Parallel()
	g, err := lc.Default().Apply(lc.Patch{
		RemoveEvents: []string{lc.EventPay},
		AddEvents:    []lc.Event{{Name: lc.EventPay, From: []string{lc.PendingPayment}, To: lc.PendingReview, Effects: []string{"confirm_stock", "notify"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Events[eventIndex(g, lc.EventPay)].Effects; !reflect.DeepEqual(got, []string{"confirm_stock", "notify"}) {
		t.Errorf("pay effects = %v", got)
	}
}

func TestApplyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		patch lc.Patch
		graph string
		want  []string
	}{
		{"unknown state", lc.Patch{RemoveStates: []string{"nope"}}, "distribution",
			[]string{`patch removes unknown state "nope"`}},
		{"unknown event", lc.Patch{RemoveEvents: []string{"nope"}}, "distribution",
			[]string{`patch removes unknown event "nope"`}},
		{"retarget unknown event", lc.Patch{Name: "p", Retarget: map[string]string{"nope": lc.Completed}}, "p",
			[]string{`patch retargets unknown event "nope"`}},
		{"retarget removed event", lc.Patch{RemoveEvents: []string{lc.EventShip}, Retarget: map[string]string{lc.EventShip: lc.Completed}}, "distribution",
			[]string{`patch retargets event "ship", which the patch removes`}},
		{"retarget event dropped with its state", lc.Patch{
			RemoveStates: []string{lc.PendingReview, lc.Rejected},
			Retarget:     map[string]string{lc.EventPay: lc.PendingOutbound, lc.EventReject: lc.Cancelled},
		}, "distribution", []string{`patch retargets event "reject", which the patch removes`}},
		{"removed target not retargeted", lc.Patch{RemoveStates: []string{lc.PendingReview, lc.Rejected}}, "distribution",
			[]string{`event "pay" leads to removed state "pending_review" and is not retargeted`}},
		{"several patch problems at once", lc.Patch{
			RemoveStates: []string{"nope", lc.PendingReview},
			RemoveEvents: []string{"gone"},
			Retarget:     map[string]string{"missing": lc.Completed},
		}, "distribution", []string{
			`patch removes unknown state "nope"`,
			`patch removes unknown event "gone"`,
			`patch retargets unknown event "missing"`,
			`event "pay" leads to removed state "pending_review" and is not retargeted`,
		}},
		{"retarget to an undeclared state", lc.Patch{Retarget: map[string]string{lc.EventPay: "nowhere"}}, "distribution",
			[]string{`event "pay": to state "nowhere" is not declared`}},
		{"remove the initial state", lc.Patch{Name: "headless", RemoveStates: []string{lc.Created}}, "headless",
			[]string{`initial state "created" is not declared`}},
		{"add a duplicate state", lc.Patch{AddStates: []lc.State{{Name: lc.Completed, Terminal: true}}}, "distribution",
			[]string{`state "completed" is declared more than once`}},
		{"add a duplicate event", lc.Patch{AddEvents: []lc.Event{{Name: lc.EventPay, From: []string{lc.Created}, To: lc.Completed}}}, "distribution",
			[]string{`event "pay" is declared more than once`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := lc.Default()
			got, err := base.Apply(tt.patch)
			if got != nil {
				t.Errorf("Apply returned a graph with an error: %+v", got)
			}
			assertProblems(t, err, tt.graph, tt.want)
			if !reflect.DeepEqual(base, lc.Default()) {
				t.Error("a failed Apply modified its receiver")
			}
		})
	}
}
