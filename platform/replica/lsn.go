package replica

import (
	"fmt"
	"strconv"
	"strings"
)

// LSN is a PostgreSQL WAL position (pg_lsn) as a number: comparable, with
// zero as "nothing".
type LSN uint64

// ParseLSN reads PostgreSQL's text form, "16/B374D848".
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("replica: malformed LSN %q", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("replica: malformed LSN %q", s)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("replica: malformed LSN %q", s)
	}
	return LSN(h<<32 | l), nil
}

// String is PostgreSQL's text form.
func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint64(l)&0xFFFFFFFF) }

// tokenPrefix versions the consistency token's text.
const tokenPrefix = "c1."

// Token is the opaque consistency token of l: what a client gets after a
// write and may send back with its reads ("" for zero).
func (l LSN) Token() string {
	if l == 0 {
		return ""
	}
	return tokenPrefix + strconv.FormatUint(uint64(l), 16)
}

// ParseToken reads a consistency token; a malformed or empty one is zero
// (it asks for nothing: the principal's marker still holds). A forged
// token can only send its own reads to the primary.
func ParseToken(s string) LSN {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok || len(rest) == 0 || len(rest) > 16 {
		return 0
	}
	n, err := strconv.ParseUint(rest, 16, 64)
	if err != nil {
		return 0
	}
	return LSN(n)
}
