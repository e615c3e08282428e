// Package identity names business lines and resolves requests to them.
//
// A business identity (bizCode) is a dotted, hierarchical code:
// "virtual.topup.mobile" inherits from "virtual.topup", which inherits from
// "virtual", which inherits from the platform default (the empty code Root).
// Whatever an identity does not configure itself it takes from its nearest
// ancestor that does, so a business line overrides only what differs.
package identity

import (
	"fmt"
	"strings"
)

// Code is a business identity code such as "virtual.topup.mobile".
type Code string

// Root is the platform default: the ancestor of every identity.
const Root Code = ""

// Parent returns the code one level up: "a.b.c" → "a.b", "a" → Root,
// Root → Root.
func (c Code) Parent() Code {
	if i := strings.LastIndexByte(string(c), '.'); i >= 0 {
		return c[:i]
	}
	return Root
}

// Chain returns c followed by each of its ancestors, ending with Root.
func (c Code) Chain() []Code {
	chain := make([]Code, 0, strings.Count(string(c), ".")+2)
	for {
		chain = append(chain, c)
		if c == Root {
			return chain
		}
		c = c.Parent()
	}
}

// IsAncestorOf reports whether c is a strict ancestor of d.
func (c Code) IsAncestorOf(d Code) bool {
	if c == d {
		return false
	}
	return c == Root || strings.HasPrefix(string(d), string(c)+".")
}

// String returns the code, or "(platform default)" for Root.
func (c Code) String() string {
	if c == Root {
		return "(platform default)"
	}
	return string(c)
}

// Validate checks the syntax: dot-separated segments of lowercase letters,
// digits, '-' and '_', each starting with a letter, at most 8 levels and 128
// bytes. Root is valid.
func (c Code) Validate() error {
	if c == Root {
		return nil
	}
	if len(c) > 128 {
		return fmt.Errorf("identity %q: longer than 128 bytes", string(c))
	}
	segs := strings.Split(string(c), ".")
	if len(segs) > 8 {
		return fmt.Errorf("identity %q: deeper than 8 levels", string(c))
	}
	for _, s := range segs {
		if s == "" {
			return fmt.Errorf("identity %q: empty segment", string(c))
		}
		if s[0] < 'a' || s[0] > 'z' {
			return fmt.Errorf("identity %q: segment %q must start with a lowercase letter", string(c), s)
		}
		for i := 0; i < len(s); i++ {
			b := s[i]
			if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
				return fmt.Errorf("identity %q: segment %q has %q; use lowercase letters, digits, '-' and '_'", string(c), s, b)
			}
		}
	}
	return nil
}
