package authz

import (
	"embed"
	"io/fs"
)

// The shipped policy and its tests.
//
//go:embed policy/*.rego
var policyFiles embed.FS

// DefaultPolicy returns the embedded default policy: the .rego files of
// package tmf.authz and their *_test.rego tests, at the root of the
// returned file system.
func DefaultPolicy() fs.FS {
	sub, err := fs.Sub(policyFiles, "policy")
	if err != nil {
		panic(err) // "policy" is a valid path by construction
	}
	return sub
}
