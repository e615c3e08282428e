# Nine million iterations: far beyond any per-decision timeout.
package tmf.authz

default visible := false

default allow := false

allow if {
	n := count([1 |
		some i in numbers.range(1, 3000)
		some j in numbers.range(1, 3000)
		i == j
	])
	n > 0
}
