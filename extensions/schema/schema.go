// Package schema publishes the bizpack contract as JSON Schemas (draft
// 2020-12), for bizpacks written in any language: one file per request and
// response type of the extension points and one for the manifest
// (Manifest.json), with points.json naming each point's two schemas. The
// files are generated from the Go types of package extensions and their doc
// comments (go generate, or go test -update in this directory); a test
// fails when they differ from what the types say.
//
// A reader must ignore properties it does not know: a newer minor version
// of the protocol may add optional fields.
package schema

import "embed"

//go:generate go test -run TestSchemasAreGenerated -update .

// FS holds the schema files.
//
//go:embed *.json
var FS embed.FS
