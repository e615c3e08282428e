# Two complete definitions of allow that disagree for alice: evaluation fails.
package tmf.authz

default visible := false

allow if input.action == "order.read"

allow := false if input.principal.id == "alice"
