package catalog_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/platform/catalog"
)

// TestExtensionPointCatalogueDoc keeps docs/extension-points.md equal to the
// live catalogue. With TMF_UPDATE_DOCS=1 (make docs) it rewrites the file.
func TestExtensionPointCatalogueDoc(t *testing.T) {
	cat, reg, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	got := catalog.Markdown(cat, reg)
	path := filepath.Join("..", "..", "docs", "extension-points.md")
	if os.Getenv("TMF_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; run make docs", err)
	}
	if string(want) != got {
		t.Fatalf("docs/extension-points.md is out of date with the catalogue; run make docs")
	}
	for _, p := range cat.Points() {
		if !strings.Contains(got, "### "+p.Name+"\n") {
			t.Errorf("point %s is not documented", p.Name)
		}
		if p.Doc == "" {
			t.Errorf("point %s has no doc", p.Name)
		}
	}
}

func TestBuiltinWiring(t *testing.T) {
	cat, reg, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, p := range cat.Points() {
		names[p.Name] = true
	}
	for _, want := range []string{"order.validate", "order.guard", "pricing.adjust", "promotion.candidates", "promotion.stack",
		"stock.route_warehouse", "payment.methods", "delivery.required", "delivery.freight"} {
		if !names[want] {
			t.Errorf("point %s missing from the built-in catalogue", want)
		}
	}
	for _, im := range reg.Implementations() {
		if im.Doc == "" || im.Version == "" {
			t.Errorf("implementation %s lacks a doc or version", im.Name)
		}
	}
}
