# allow has no static type, and evaluates to a string.
package tmf.authz

default visible := false

allow := input.action
