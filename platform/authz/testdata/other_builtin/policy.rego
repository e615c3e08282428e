package tmf.authz

default allow := true

default visible := false

visible if endswith(input.resource.owner_path, "/east/")
