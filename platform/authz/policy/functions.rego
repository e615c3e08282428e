package tmf.authz

# Function-level actions: they name no resource, so roles decide.

# SKU and stock reads.
allowed["catalog.read"] if any_role

allowed["order.place"] if is_buyer

allowed["order.place"] if is_agent

# Listing is allowed here; which rows are listed is decided by visible.
allowed["order.list"] if any_role

allowed["credit.read_own"] if is_agent

# coupon.read names a coupon, whose owner is resource.buyer_id; an unowned
# coupon is visible to every holder of a known role (visible.rego).
allowed["coupon.read"] if {
	any_role
	visible
}
