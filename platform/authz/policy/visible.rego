package tmf.authz

# visible reads only input.principal and input.resource: never the action nor
# the resource type, because list endpoints partially evaluate it with
# input.resource unknown. Keep every body inlinable: each condition on the
# resource compares one field with a value known from the principal
# (==, or startswith for org subtrees), so that the host can turn the result
# into SQL.

visible if is_admin

visible if {
	is_operator
	"*" in input.principal.identities
}

visible if {
	is_operator
	some code in input.principal.identities
	not code in {"", "*"}
	input.resource.biz_code == code
}

visible if {
	authenticated
	input.resource.buyer_id == input.principal.id
}

# An unowned resource (buyer_id "", e.g. a coupon anyone may use) is visible
# to every holder of a known role. Orders always have a buyer, so for them
# this adds only `OR buyer_id = ''` to list filters.
visible if {
	any_role
	input.resource.buyer_id == ""
}

# An agent sees the orders of its organisation subtree. Org paths end with "/",
# so "/hq/east/" does not match "/hq/eastern/"; a path without the trailing
# slash grants no subtree at all (fail closed).
visible if {
	is_agent
	endswith(input.principal.org_path, "/")
	startswith(input.resource.owner_path, input.principal.org_path)
}
