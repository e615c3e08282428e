package tmf.authz_test

import data.tmf.authz

read_cases := {
	"buyer reads own": {"principal": alice, "resource": alice_east, "want": true},
	"buyer cannot read others'": {"principal": alice, "resource": bob_west, "want": false},
	"agent reads subtree": {"principal": agent_east, "resource": alice_east, "want": true},
	"agent cannot read other region": {"principal": agent_east, "resource": bob_west, "want": false},
	"operator reads its identity": {"principal": operator_retail, "resource": alice_east, "want": true},
	"admin reads all": {"principal": admin, "resource": bob_west, "want": true},
}

test_read_actions[name] if {
	some note, tc in read_cases
	some action in ["order.read", "order.trace", "order.payments.read", "order.returns.read"]
	name := sprintf("%s: %s", [action, note])
	got := authz.allow with input as {"principal": tc.principal, "action": action, "resource": tc.resource}
	got == tc.want
}

return_cases := {
	"buyer returns own": {"principal": alice, "resource": alice_east, "want": true},
	"buyer cannot return others'": {"principal": bob, "resource": alice_east, "want": false},
	"agent returns in subtree": {"principal": agent_east, "resource": alice_east, "want": true},
	"agent returns its own": {"principal": agent_east, "resource": agent_own, "want": true},
	"agent cannot return outside subtree": {"principal": agent_east, "resource": bob_west, "want": false},
	"operator does not open returns": {"principal": operator_retail, "resource": alice_east, "want": false},
	"admin does not open returns": {"principal": admin, "resource": bob_west, "want": false},
	"unknown role cannot return even its own": {"principal": stranger, "resource": eve_own, "want": false},
}

test_order_return[name] if {
	some note, tc in return_cases
	some action in ["order.return", "order.return.cancel"]
	name := sprintf("%s: %s", [action, note])
	got := authz.allow with input as {"principal": tc.principal, "action": action, "resource": tc.resource}
	got == tc.want
}

return_review_cases := {
	"operator reviews its identity's": {"principal": operator_retail, "resource": alice_east, "want": true},
	"operator of every identity reviews any": {"principal": operator_all, "resource": bob_west, "want": true},
	"operator cannot review other identities'": {"principal": operator_retail, "resource": bob_west, "want": false},
	"admin reviews any": {"principal": admin, "resource": bob_west, "want": true},
	"buyer cannot review its own": {"principal": alice, "resource": alice_east, "want": false},
	"agent cannot review in subtree": {"principal": agent_east, "resource": alice_east, "want": false},
	"unknown role reviews nothing": {"principal": stranger, "resource": eve_own, "want": false},
}

test_order_return_review[name] if {
	some note, tc in return_review_cases
	some action in return_review_actions
	name := sprintf("%s: %s", [action, note])
	got := authz.allow with input as {"principal": tc.principal, "action": action, "resource": tc.resource}
	got == tc.want
}

return_review_actions := {"order.return.approve", "order.return.reject", "order.return.receive"}

pay_cases := {
	"buyer pays own": {"principal": alice, "resource": alice_east, "want": true},
	"agent pays own": {"principal": agent_east, "resource": agent_own, "want": true},
	"buyer cannot pay others'": {"principal": bob, "resource": alice_east, "want": false},
	"agent cannot pay for its subtree": {"principal": agent_east, "resource": alice_east, "want": false},
	"admin cannot pay for a buyer": {"principal": admin, "resource": alice_east, "want": false},
	"unknown role cannot pay even its own": {"principal": stranger, "resource": eve_own, "want": false},
}

test_order_pay[note] if {
	some note, tc in pay_cases
	got := authz.allow with input as {"principal": tc.principal, "action": "order.pay", "resource": tc.resource}
	got == tc.want
}

event_cases := {
	"admin fires any event": {"principal": admin, "resource": with_event(bob_west, "ship"), "want": true},
	"operator fires any event on its identity": {"principal": operator_retail, "resource": with_event(alice_east, "ship"), "want": true},
	"operator fires nothing on other identities": {"principal": operator_retail, "resource": with_event(bob_west, "cancel"), "want": false},
	"buyer cancels own": {"principal": alice, "resource": with_event(alice_east, "cancel"), "want": true},
	"buyer receives own": {"principal": alice, "resource": with_event(alice_east, "receive"), "want": true},
	"buyer cannot ship own": {"principal": alice, "resource": with_event(alice_east, "ship"), "want": false},
	"buyer cannot cancel others'": {"principal": bob, "resource": with_event(alice_east, "cancel"), "want": false},
	"agent cancels in subtree": {"principal": agent_east, "resource": with_event(alice_east, "cancel"), "want": true},
	"agent cannot ship in subtree": {"principal": agent_east, "resource": with_event(alice_east, "ship"), "want": false},
	"agent cannot cancel outside subtree": {"principal": agent_east, "resource": with_event(bob_west, "cancel"), "want": false},
	"unknown role fires nothing on its own": {"principal": stranger, "resource": with_event(eve_own, "cancel"), "want": false},
}

test_order_event[note] if {
	some note, tc in event_cases
	got := authz.allow with input as {"principal": tc.principal, "action": "order.event", "resource": tc.resource}
	got == tc.want
}

permitted_events_cases := {
	"admin: every event": {"principal": admin, "resource": bob_west, "want": {"*"}},
	"operator on its identity: every event": {"principal": operator_retail, "resource": alice_east, "want": {"*"}},
	"operator elsewhere: none": {"principal": operator_retail, "resource": bob_west, "want": set()},
	"buyer on own: buyer events": {"principal": alice, "resource": alice_east, "want": authz.buyer_events},
	"buyer on others': none": {"principal": bob, "resource": alice_east, "want": set()},
	"agent in subtree: agent events": {"principal": agent_east, "resource": alice_east, "want": authz.agent_events},
	"agent outside subtree: none": {"principal": agent_east, "resource": bob_west, "want": set()},
	"unknown role: none": {"principal": stranger, "resource": eve_own, "want": set()},
}

# permitted_events does not depend on the action: the API asks it while
# showing an order.
test_permitted_events[note] if {
	some note, tc in permitted_events_cases
	got := authz.permitted_events with input as {"principal": tc.principal, "action": "order.read", "resource": tc.resource}
	got == tc.want
}

test_event_lists_are_policy if {
	authz.buyer_events == {"cancel", "receive"}
	authz.agent_events == {"cancel", "receive"}
}
