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
