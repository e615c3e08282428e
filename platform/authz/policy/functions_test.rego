package tmf.authz_test

import data.tmf.authz

function_cases := {
	"admin writes skus": {"principal": admin, "action": "admin.skus.write", "want": true},
	"admin edits policies": {"principal": admin, "action": "admin.policies.write", "want": true},
	"admin action not yet written anywhere": {"principal": admin, "action": "admin.anything.new", "want": true},
	"anonymous admin is no admin": {"principal": anonymous_admin, "action": "admin.skus.write", "want": false},
	"operator is no admin": {"principal": operator_all, "action": "admin.orgs.read", "want": false},
	"buyer is no admin": {"principal": alice, "action": "admin.credit.read", "want": false},
	"prefix must be admin.": {"principal": alice, "action": "administrator", "want": false},
	"buyer reads catalog": {"principal": alice, "action": "catalog.read", "want": true},
	"agent reads catalog": {"principal": agent_east, "action": "catalog.read", "want": true},
	"operator reads catalog": {"principal": operator_retail, "action": "catalog.read", "want": true},
	"admin reads catalog": {"principal": admin, "action": "catalog.read", "want": true},
	"unknown role cannot read catalog": {"principal": stranger, "action": "catalog.read", "want": false},
	"anonymous cannot read catalog": {"principal": anonymous_admin, "action": "catalog.read", "want": false},
	"buyer places orders": {"principal": alice, "action": "order.place", "want": true},
	"agent places orders": {"principal": agent_east, "action": "order.place", "want": true},
	"operator does not place orders": {"principal": operator_all, "action": "order.place", "want": false},
	"admin does not place orders": {"principal": admin, "action": "order.place", "want": false},
	"buyer lists orders": {"principal": alice, "action": "order.list", "want": true},
	"agent lists orders": {"principal": agent_east, "action": "order.list", "want": true},
	"operator lists orders": {"principal": operator_retail, "action": "order.list", "want": true},
	"admin lists orders": {"principal": admin, "action": "order.list", "want": true},
	"unknown role lists nothing": {"principal": stranger, "action": "order.list", "want": false},
	"agent reads own credit": {"principal": agent_east, "action": "credit.read_own", "want": true},
	"buyer has no credit": {"principal": alice, "action": "credit.read_own", "want": false},
	"admin has no own credit": {"principal": admin, "action": "credit.read_own", "want": false},
	"unknown action is denied": {"principal": admin, "action": "order.teleport", "want": false},
}

test_function_actions[note] if {
	some note, tc in function_cases
	got := authz.allow with input as {"principal": tc.principal, "action": tc.action}
	got == tc.want
}

coupon_cases := {
	"owner reads own coupon": {"principal": alice, "resource": alice_coupon, "want": true},
	"buyer cannot read another's coupon": {"principal": bob, "resource": alice_coupon, "want": false},
	"admin reads any coupon": {"principal": admin, "resource": alice_coupon, "want": true},
	"operator of the identity reads it": {"principal": operator_retail, "resource": alice_coupon, "want": true},
	"buyer reads unowned coupon": {"principal": bob, "resource": unowned_coupon, "want": true},
	"agent reads unowned coupon": {"principal": agent_without_org, "resource": unowned_coupon, "want": true},
	"unknown role cannot read unowned coupon": {"principal": stranger, "resource": unowned_coupon, "want": false},
	"anonymous cannot read unowned coupon": {"principal": anonymous_admin, "resource": unowned_coupon, "want": false},
}

test_coupon_read[note] if {
	some note, tc in coupon_cases
	got := authz.allow with input as {"principal": tc.principal, "action": "coupon.read", "resource": tc.resource}
	got == tc.want
}
