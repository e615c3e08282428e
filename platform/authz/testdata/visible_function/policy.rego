package tmf.authz

default allow := false

visible(x) if x == input.principal.id
