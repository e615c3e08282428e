package tmf.authz

# Configuration actions of the admin console that operators share with
# admins. Business identities are resources {type: "identity", id, biz_code}
# (biz_code = the identity's code): an operator reads and changes the
# identities granted to it, an admin all of them. Everything else of the
# console (bizpacks, organisations, principals, policies, the audit log) is
# under "admin." and for admins only.

# Who am I: every authenticated principal may ask.
allowed["me.read"] if authenticated

# Configurers: the roles that use the console's configuration pages.
configurer if is_operator

configurer if is_admin

# The identity list (filtered by identity.read) and the extension-point and
# product catalogues.
allowed["identity.list"] if configurer

allowed["extensions.read"] if configurer

# Creating an identity: the code is then checked with identity.write.
allowed["identity.create"] if configurer

allowed["identity.read"] if identity_granted

allowed["identity.write"] if identity_granted

# identity_granted: not the generic visible rule, under which a resource
# without a buyer (buyer_id "", as every identity) is visible to every role.
identity_granted if is_admin

identity_granted if {
	is_operator
	"*" in input.principal.identities
}

identity_granted if {
	is_operator
	some code in input.principal.identities
	not code in {"", "*"}
	input.resource.biz_code == code
}

# Naming an order's identity (bizCode) instead of letting the resolution
# rules choose it: resource {type: "identity", id, biz_code}. The API also
# accepts, without asking, the identity the rules would resolve anyway, so
# this decides only who may pick another one. Admins and operators granted
# the identity may; buyers and agents only the identities listed in
# data.tmf.open_identities (lines reached only by choice: a flash sale, a
# partner's shop). An identity kept for some buyers (retail.vip for
# tier=vip) must not be listed there: its rule gives it to them.
allowed["order.choose_identity"] if identity_granted

allowed["order.choose_identity"] if {
	any_role
	input.resource.biz_code in open_identities
}

open_identities contains code if some code in data.tmf.open_identities
