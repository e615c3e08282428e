package schema_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/internal/schemagen"
	"github.com/tmf-platform/tmf/extensions/schema"
)

var update = flag.Bool("update", false, "rewrite the schema files from the Go types")

// The committed schemas are exactly what the Go types of extensions/ say.
func TestSchemasAreGenerated(t *testing.T) {
	if *update {
		if err := schemagen.Write("..", "."); err != nil {
			t.Fatal(err)
		}
	}
	want, err := schemagen.Files("..")
	if err != nil {
		t.Fatal(err)
	}
	have, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range want {
		got, err := os.ReadFile(name) // not FS: -update just rewrote the files
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("extensions/schema/%s is out of date with the Go types (go generate ./extensions/schema)", name)
		}
	}
	for _, name := range have {
		if _, ok := want[name]; !ok {
			t.Errorf("extensions/schema/%s is not generated any more: remove it (go generate ./extensions/schema)", name)
		}
	}
	// Every point's two types have a schema.
	for _, p := range extensions.Points() {
		for _, ty := range []string{p.Request, p.Response} {
			if _, ok := want[ty+".json"]; !ok || !slices.Contains(have, ty+".json") && !*update {
				t.Errorf("point %s: no schema for %s", p.Point, ty)
			}
		}
	}
}

// The embedded files are the committed ones, and each is a JSON Schema.
func TestFSHoldsTheSchemas(t *testing.T) {
	b, err := schema.FS.ReadFile("ValidateRequest.json")
	if err != nil || !bytes.Contains(b, []byte(`"$schema": "https://json-schema.org/draft/2020-12/schema"`)) {
		t.Fatalf("ValidateRequest.json: %v\n%s", err, b)
	}
}
