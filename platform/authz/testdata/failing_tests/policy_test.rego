package tmf.authz_test

import data.tmf.authz

test_catalog if {
	authz.allow with input as {"action": "catalog.read"}
}

# Wrong on purpose: the policy allows catalog.read.
test_catalog_denied if {
	not authz.allow with input as {"action": "catalog.read"}
}

cases := {
	"root sees": {"id": "root", "want": true},
	"alice sees": {"id": "alice", "want": true},
}

# One case is wrong on purpose.
test_visible[note] if {
	some note, tc in cases
	got := authz.visible with input as {"principal": {"id": tc.id}}
	got == tc.want
}
