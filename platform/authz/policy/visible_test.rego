package tmf.authz_test

import data.tmf.authz

visible_cases := {
	"admin sees any order": {"principal": admin, "resource": bob_west, "want": true},
	"anonymous admin sees nothing": {"principal": anonymous_admin, "resource": bob_west, "want": false},
	"unknown role sees only its own": {"principal": stranger, "resource": alice_east, "want": false},
	"unknown role sees its own order": {"principal": stranger, "resource": eve_own, "want": true},
	"operator with * sees all": {"principal": operator_all, "resource": bob_west, "want": true},
	"operator sees its identity": {"principal": operator_retail, "resource": alice_east, "want": true},
	"operator does not see other identities": {"principal": operator_retail, "resource": bob_west, "want": false},
	"empty identity grants nothing": {"principal": operator_retail, "resource": no_biz, "want": false},
	"buyer sees own order": {"principal": alice, "resource": alice_east, "want": true},
	"buyer does not see others' orders": {"principal": alice, "resource": bob_west, "want": false},
	"agent sees its subtree": {"principal": agent_east, "resource": alice_east, "want": true},
	"agent sees its own order outside its subtree": {"principal": agent_east, "resource": agent_own, "want": true},
	"agent does not see other regions": {"principal": agent_east, "resource": bob_west, "want": false},
	"agent does not see a sibling with a longer name": {"principal": agent_east, "resource": bob_eastern, "want": false},
	"agent without org sees no subtree": {"principal": agent_without_org, "resource": alice_east, "want": false},
	"agent with unterminated path sees no subtree": {"principal": agent_unterminated, "resource": alice_east, "want": false},
	"buyer sees an unowned resource": {"principal": bob, "resource": unowned_coupon, "want": true},
	"operator sees an unowned resource": {"principal": operator_retail, "resource": unowned_coupon, "want": true},
	"unknown role does not see an unowned resource": {"principal": stranger, "resource": unowned_coupon, "want": false},
	"anonymous does not see an unowned resource": {"principal": {"id": "", "roles": ["buyer"], "org_path": "", "identities": []}, "resource": unowned_coupon, "want": false},
}

test_visible[note] if {
	some note, tc in visible_cases
	got := authz.visible with input as {"principal": tc.principal, "action": "order.read", "resource": tc.resource}
	got == tc.want
}

# visible is partially evaluated for list endpoints, so it must give the same
# answer whatever the action and resource type.
test_visible_ignores_action_and_type[note] if {
	some note, tc in visible_cases
	every action in ["order.list", "order.pay", "admin.orgs.read", ""] {
		every type in ["order", "coupon", ""] {
			resource := object.union(tc.resource, {"type": type})
			got := authz.visible with input as {"principal": tc.principal, "action": action, "resource": resource}
			got == tc.want
		}
	}
}

test_visible_without_resource_only_for_admin if {
	authz.visible with input as {"principal": admin, "action": "order.list"}
	not authz.visible with input as {"principal": alice, "action": "order.list"}
}
