# The events come from data.json, so operators can change them without Rego.
package tmf.authz

default allow := false

default visible := true

permitted_events contains e if {
	some e in data.tmf.config.events
}

allow if input.resource.event in permitted_events
