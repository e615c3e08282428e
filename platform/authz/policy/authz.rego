# Package tmf.authz decides who may see and act on which orders and which
# configuration. The host (platform/authz) reads three rules:
#
#   allow            may the principal perform input.action (on input.resource)?
#   visible          may the principal know that input.resource exists?
#                    When allow is false, the API answers 404 if the resource
#                    is not visible and 403 if it is. List endpoints get their
#                    SQL filter from the partial evaluation of this rule.
#   permitted_events which order events the principal may fire on
#                    input.resource; "*" stands for every event.
#
# Input (snake_case):
#   principal {id, roles, org_path ("/"-terminated or ""), identities ("*" = all)}
#   action    e.g. "order.read", "admin.skus.write"
#   resource  {type, id, buyer_id, owner_path, biz_code, event}; absent for
#             function-level actions.
#
# Rules are written for speed as well as for reading: every decision runs
# them, so roles are plain boolean rules and actions are looked up by name
# (allowed[action]) instead of being tried one by one.
package tmf.authz

default allow := false

default visible := false

# Everything under "admin." is for admins only, including admin endpoints
# added after this policy was written.
allow if {
	startswith(input.action, "admin.")
	is_admin
}

# Every other action is looked up in the allowed table (functions.rego,
# orders.rego); an action missing from it is denied.
allow if allowed[input.action]

# Roles count only for an authenticated principal (non-empty id). Roles other
# than these four grant nothing.
authenticated if input.principal.id != ""

is_buyer if {
	authenticated
	"buyer" in input.principal.roles
}

is_agent if {
	authenticated
	"agent" in input.principal.roles
}

is_operator if {
	authenticated
	"operator" in input.principal.roles
}

is_admin if {
	authenticated
	"admin" in input.principal.roles
}

# any_role: the principal holds at least one known role.
any_role if is_buyer

any_role if is_agent

any_role if is_operator

any_role if is_admin
