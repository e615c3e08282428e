# visible depends on a rule whose default cannot be inlined: partial
# evaluation needs a support module.
package tmf.authz

default allow := true

default visible := false

visible if unflagged

default unflagged := true

unflagged := false if input.resource.biz_code == "hidden"
