# allow has no default: it is undefined for every action but one.
package tmf.authz

default visible := false

allow if input.action == "catalog.read"
