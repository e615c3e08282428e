package tmf.authz

default allow := false

default visible := false

visible if {
	input.resource.buyer_id ==
}
