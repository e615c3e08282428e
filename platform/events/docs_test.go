package events_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/platform/events"
)

var update = flag.Bool("update", false, "rewrite docs/events.md's catalogue and docs/asyncapi.yaml")

func updating() bool { return *update || os.Getenv("TMF_UPDATE_DOCS") == "1" }

// TestEventsDoc keeps the generated part of docs/events.md equal to the
// catalogue. With -update or TMF_UPDATE_DOCS=1 (make docs) it rewrites it.
func TestEventsDoc(t *testing.T) {
	gen, err := events.CatalogueMarkdown()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "events.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := events.ReplaceGenerated(string(doc), gen)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if updating() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got != string(doc) {
		t.Fatalf("docs/events.md is out of date with the event catalogue; run make docs")
	}
	for _, typ := range events.Types() {
		if !strings.Contains(got, "### "+typ.Name+"\n") {
			t.Errorf("%s is not documented", typ.Name)
		}
	}
	for _, h := range []string{"## Envelope", "## NATS JetStream", "## Consumer", "## Webhooks", "## Change data capture", "## Operations"} {
		if !strings.Contains(got, "\n"+h+"\n") {
			t.Errorf("docs/events.md has no section %q", h)
		}
	}
}

// TestAsyncAPIDoc keeps docs/asyncapi.yaml equal to the document generated
// from the catalogue. With -update or TMF_UPDATE_DOCS=1 it rewrites it.
func TestAsyncAPIDoc(t *testing.T) {
	got, err := events.AsyncAPI()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "asyncapi.yaml")
	if updating() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; run make docs", err)
	}
	if string(want) != string(got) {
		t.Fatalf("docs/asyncapi.yaml is out of date with the event catalogue; run make docs")
	}
	for _, typ := range events.Types() {
		if !strings.Contains(string(got), "address: tmf.events."+typ.Name+".{bizCode}") {
			t.Errorf("no channel for %s", typ.Name)
		}
	}
}
