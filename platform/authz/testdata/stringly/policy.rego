package tmf.authz

allow := "yes"

default visible := false
