package tmf.authz

# Order actions: they name an order in input.resource.

# Reading an order and what hangs off it needs only visibility.
allowed["order.read"] if visible

allowed["order.trace"] if visible

allowed["order.payments.read"] if visible

allowed["order.returns.read"] if visible

allowed["order.return"] if {
	any_role
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
