# Shared principals and resources for the policy tests.
package tmf.authz_test

alice := {"id": "alice", "roles": ["buyer"], "org_path": "", "identities": []}

bob := {"id": "bob", "roles": ["buyer"], "org_path": "", "identities": []}

# An agent of the east region; it also buys for itself.
agent_east := {"id": "agent-east", "roles": ["agent"], "org_path": "/hq/east/", "identities": []}

agent_without_org := {"id": "agent-none", "roles": ["agent"], "org_path": "", "identities": []}

# A path without its trailing "/" grants no subtree.
agent_unterminated := {"id": "agent-bad", "roles": ["agent"], "org_path": "/hq/east", "identities": []}

operator_retail := {"id": "op-retail", "roles": ["operator"], "org_path": "", "identities": ["", "retail"]}

operator_all := {"id": "op-all", "roles": ["operator"], "org_path": "", "identities": ["*"]}

admin := {"id": "root", "roles": ["admin"], "org_path": "", "identities": []}

# Claims admin but is not authenticated.
anonymous_admin := {"id": "", "roles": ["admin"], "org_path": "", "identities": []}

# Authenticated, but holds no role the platform knows.
stranger := {"id": "eve", "roles": ["auditor"], "org_path": "/hq/", "identities": ["*"]}

alice_east := {"type": "order", "id": "o-1", "buyer_id": "alice", "owner_path": "/hq/east/sh-01/", "biz_code": "retail"}

bob_west := {"type": "order", "id": "o-2", "buyer_id": "bob", "owner_path": "/hq/west/bj-01/", "biz_code": "b2b"}

# Under a sibling whose name merely starts like "east".
bob_eastern := {"type": "order", "id": "o-3", "buyer_id": "bob", "owner_path": "/hq/eastern/gz-01/", "biz_code": "b2b"}

agent_own := {"type": "order", "id": "o-4", "buyer_id": "agent-east", "owner_path": "/hq/west/", "biz_code": "b2b"}

eve_own := {"type": "order", "id": "o-5", "buyer_id": "eve", "owner_path": "/hq/east/sh-01/", "biz_code": "retail"}

no_biz := {"type": "order", "id": "o-6", "buyer_id": "bob", "owner_path": "/hq/west/", "biz_code": ""}

alice_coupon := {"type": "coupon", "id": "c-1", "buyer_id": "alice", "owner_path": "", "biz_code": "retail"}

unowned_coupon := {"type": "coupon", "id": "c-2", "buyer_id": "", "owner_path": "", "biz_code": ""}

# with_event(resource, event) is resource carrying the event to fire.
with_event(resource, event) := object.union(resource, {"event": event})
