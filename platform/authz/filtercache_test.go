package authz

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A principal's filter is remembered by the policy that gave it, and a
// reload forgets it: the new policy's answer is the one used.
func TestFilterCacheFollowsThePolicy(t *testing.T) {
	dir := copyTree(t, DefaultPolicy())
	e := newEngine(t, Options{Source: dir})
	ctx := context.Background()
	first, err := e.Filter(ctx, agentEast, "order.list")
	if err != nil {
		t.Fatal(err)
	}
	if !hasPrefixCondition(first, "/hq/east/") {
		t.Fatalf("agent filter %+v lacks its subtree", first)
	}
	c := e.current.Load()
	if _, ok := c.filters.get(filterKey(agentEast, "order.list")); !ok {
		t.Fatal("the filter was not remembered")
	}
	again, err := e.Filter(ctx, agentEast, "order.list")
	if err != nil || !reflect.DeepEqual(again, first) {
		t.Fatalf("second Filter = %+v, %v; want %+v", again, err, first)
	}
	// Another principal of the same id but another org is another entry.
	moved := agentEast
	moved.OrgPath = "/hq/west/"
	if f, err := e.Filter(ctx, moved, "order.list"); err != nil || !hasPrefixCondition(f, "/hq/west/") || hasPrefixCondition(f, "/hq/east/") {
		t.Fatalf("moved agent's filter = %+v, %v", f, err)
	}

	// A policy without the subtree rule: agents see their own orders only.
	dropSubtreeRule(t, e, dir)
	after, err := e.Filter(ctx, agentEast, "order.list")
	if err != nil {
		t.Fatal(err)
	}
	if hasPrefixCondition(after, "/hq/east/") {
		t.Fatalf("after the reload the agent still gets its subtree: %+v", after)
	}
}

// A policy whose rules read the clock or the network gets no cache, of
// filters or of decisions.
func TestNoCacheForVolatilePolicies(t *testing.T) {
	for name, rule := range map[string]string{
		"clock":     `visible if time.now_ns() > 0`,
		"clock set": `allow if { t := time.now_ns(); t > 0 }`,
		"random":    `visible if rand.intn("x", 10) > 3`,
		"network":   `visible if http.send({"method": "GET", "url": "http://127.0.0.1:1"}).status_code == 200`,
		"stable":    `visible if input.principal.id == "x"`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "p.rego"), "package tmf.authz\n\ndefault allow := false\n\ndefault visible := false\n\n"+rule+"\n")
			e := newEngine(t, Options{Source: dir})
			c := e.current.Load()
			if got, want := c.filters != nil, name == "stable"; got != want {
				t.Fatalf("filter cache present = %v, want %v", got, want)
			}
			if got, want := c.decisions != nil, name == "stable"; got != want {
				t.Fatalf("decision cache present = %v, want %v", got, want)
			}
		})
	}
}

func hasPrefixCondition(f Filter, prefix string) bool {
	for _, conj := range f.Any {
		for _, c := range conj {
			if c.Op == OpPrefix && len(c.Values) == 1 && c.Values[0] == prefix {
				return true
			}
		}
	}
	return false
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dropSubtreeRule removes the agents' subtree rule from the copy of the
// shipped policy in dir and reloads e: agents then see their own orders only.
func dropSubtreeRule(t *testing.T, e *Engine, dir string) {
	t.Helper()
	vis := filepath.Join(dir, "visible.rego")
	text := readFile(t, vis)
	i := strings.Index(text, "# An agent sees the orders of its organisation subtree.")
	if i < 0 {
		t.Fatal("visible.rego no longer has the subtree rule this test removes")
	}
	writeFile(t, vis, text[:i])
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
}
