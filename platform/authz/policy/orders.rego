package tmf.authz

# Order actions: they name an order in input.resource.

# Reading an order and what hangs off it needs only visibility.
allowed["order.read"] if visible

allowed["order.trace"] if visible

allowed["order.payments.read"] if visible

allowed["order.returns.read"] if visible

# Returns are requests. The buyer opens and cancels its own; an agent those
# of the orders of its subtree (and its own).
allowed["order.return"] if returner

allowed["order.return.cancel"] if returner

returner if {
	is_buyer
	input.resource.buyer_id == input.principal.id
}

returner if {
	is_agent
	visible
}

# Operators of the order's identity and admins approve, reject and confirm
# the goods came back (receive: the refund and the restock happen then).
# One rule per action (not `some action in {...}`): a rule whose key is a
# constant is found by its key, the others are not even looked at.
allowed["order.return.approve"] if return_reviewer

allowed["order.return.reject"] if return_reviewer

allowed["order.return.receive"] if return_reviewer

return_reviewer if is_admin

return_reviewer if {
	is_operator
	visible
}

# Only the order's own buyer pays for it, acting as buyer or agent.
allowed["order.pay"] if {
	input.resource.buyer_id == input.principal.id
	payer
}

payer if is_buyer

payer if is_agent

allowed["order.event"] if "*" in permitted_events

allowed["order.event"] if input.resource.event in permitted_events

# The lifecycle events buyers may fire on their own orders and agents on the
# orders they can see. Operators change these here, not in code.
buyer_events := {"cancel", "receive"}

agent_events := {"cancel", "receive"}

# permitted_events is what the principal may fire on input.resource, whatever
# the action; "*" means every event.
permitted_events contains "*" if is_admin

permitted_events contains "*" if {
	is_operator
	visible
}

permitted_events contains e if {
	is_buyer
	input.resource.buyer_id == input.principal.id
	some e in buyer_events
}

permitted_events contains e if {
	is_agent
	visible
	some e in agent_events
}
