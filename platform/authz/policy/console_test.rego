package tmf.authz_test

import data.tmf.authz

# As the API sends them: an identity has no buyer (buyer_id "") and no owner.
retail_identity := {"type": "identity", "id": "retail", "biz_code": "retail", "buyer_id": "", "owner_path": ""}

b2b_identity := {"type": "identity", "id": "b2b", "biz_code": "b2b", "buyer_id": "", "owner_path": ""}

console_function_cases := {
	"buyer asks who it is": {"principal": alice, "action": "me.read", "want": true},
	"unknown role asks who it is": {"principal": stranger, "action": "me.read", "want": true},
	"anonymous cannot ask": {"principal": anonymous_admin, "action": "me.read", "want": false},
	"operator lists identities": {"principal": operator_retail, "action": "identity.list", "want": true},
	"admin lists identities": {"principal": admin, "action": "identity.list", "want": true},
	"buyer lists no identities": {"principal": alice, "action": "identity.list", "want": false},
	"agent lists no identities": {"principal": agent_east, "action": "identity.list", "want": false},
	"operator reads the catalogue": {"principal": operator_retail, "action": "extensions.read", "want": true},
	"buyer does not read the catalogue": {"principal": alice, "action": "extensions.read", "want": false},
	"operator may create identities": {"principal": operator_retail, "action": "identity.create", "want": true},
	"agent may not create identities": {"principal": agent_east, "action": "identity.create", "want": false},
	"anonymous admin creates nothing": {"principal": anonymous_admin, "action": "identity.create", "want": false},
}

test_console_function_actions[note] if {
	some note, tc in console_function_cases
	got := authz.allow with input as {"principal": tc.principal, "action": tc.action}
	got == tc.want
}

identity_cases := {
	"operator reads a granted identity": {"principal": operator_retail, "action": "identity.read", "resource": retail_identity, "want": true},
	"operator does not read another": {"principal": operator_retail, "action": "identity.read", "resource": b2b_identity, "want": false},
	"operator of all reads any": {"principal": operator_all, "action": "identity.read", "resource": b2b_identity, "want": true},
	"admin reads any": {"principal": admin, "action": "identity.read", "resource": b2b_identity, "want": true},
	"buyer reads none": {"principal": alice, "action": "identity.read", "resource": retail_identity, "want": false},
	"agent reads none": {"principal": agent_east, "action": "identity.read", "resource": retail_identity, "want": false},
	"anonymous admin reads none": {"principal": anonymous_admin, "action": "identity.read", "resource": retail_identity, "want": false},
	"operator writes a granted identity": {"principal": operator_retail, "action": "identity.write", "resource": retail_identity, "want": true},
	"operator does not write another": {"principal": operator_retail, "action": "identity.write", "resource": b2b_identity, "want": false},
	"admin writes any": {"principal": admin, "action": "identity.write", "resource": b2b_identity, "want": true},
	"buyer writes none": {"principal": alice, "action": "identity.write", "resource": retail_identity, "want": false},
}

test_identity_actions[note] if {
	some note, tc in identity_cases
	got := authz.allow with input as {"principal": tc.principal, "action": tc.action, "resource": tc.resource}
	got == tc.want
}

choose_cases := {
	"buyer cannot choose a closed identity": {"principal": alice, "code": "retail.vip", "data": {}, "want": false},
	"buyer chooses an open identity": {"principal": alice, "code": "retail.flash", "data": {"open_identities": ["retail.flash"]}, "want": true},
	"buyer cannot choose another than the open ones": {"principal": alice, "code": "retail.vip", "data": {"open_identities": ["retail.flash"]}, "want": false},
	"stranger cannot choose an open identity": {"principal": stranger, "code": "retail.flash", "data": {"open_identities": ["retail.flash"]}, "want": false},
	"operator chooses its identity": {"principal": operator_retail, "code": "retail", "data": {}, "want": true},
	"operator cannot choose another": {"principal": operator_retail, "code": "retail.vip", "data": {}, "want": false},
	"admin chooses any": {"principal": admin, "code": "retail.vip", "data": {}, "want": true},
}

test_order_choose_identity[name] if {
	some name, tc in choose_cases
	resource := {"type": "identity", "id": tc.code, "biz_code": tc.code}
	got := authz.allow with input as {"principal": tc.principal, "action": "order.choose_identity", "resource": resource}
		with data.tmf.open_identities as object.get(tc.data, "open_identities", [])
	got == tc.want
}
