package webhooks

import (
	"encoding/json"

	"github.com/tmf-platform/tmf/platform/store"
)

// AuditTargetType is the audit log's target type of endpoints.
const AuditTargetType = auditTargetEndpoint

// auditEntry is the platform's own change of an endpoint (disabling it).
func auditEntry(verb string, before, after EndpointView) store.AuditEntry {
	b, _ := json.Marshal(before)
	a, _ := json.Marshal(after)
	return store.AuditEntry{Actor: systemActor, Action: auditActionWrite, Verb: verb, TargetType: auditTargetEndpoint, TargetID: before.ID,
		Before: b, After: a}
}
