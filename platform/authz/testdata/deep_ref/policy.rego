package tmf.authz

default allow := true

default visible := false

visible if input.resource.tags.vip == "yes"
