package tmf.authz

default allow := false
