package tmf.authz

default allow := true

default visible := false

visible if not input.resource.biz_code == "hidden"
