package authz

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A minimal policy whose allow and visible, for catalog.read, are both v.
func markerPolicy(v bool) string {
	b := "false"
	if v {
		b = "true"
	}
	return "package tmf.authz\n\ndefault visible := false\n\ndefault allow := false\n\n" +
		"allow := " + b + " if input.action == \"catalog.read\"\n\n" +
		"visible := " + b + " if input.action == \"catalog.read\"\n"
}

func catalogAllowed(t *testing.T, e *Engine) bool {
	t.Helper()
	d, err := e.Decide(context.Background(), Input{Principal: buyerAlice, Action: "catalog.read"})
	if err != nil {
		t.Fatal(err)
	}
	return d.Allow
}

func TestNewRefusesBrokenPolicies(t *testing.T) {
	tests := []struct {
		source string
		want   string // in the error message
	}{
		{"testdata/no_visible", "lacks rule data.tmf.authz.visible"},
		{"testdata/visible_function", "must be a boolean rule"},
		{"testdata/syntax_error", "policy.rego:9"},
		{"testdata/stringly", "data.tmf.authz.allow must be boolean"},
		{"testdata/does-not-exist", "does-not-exist"},
		{"testdata/failing_tests/policy_test.rego", "archive"}, // not a bundle
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			e, err := New(context.Background(), Options{Source: tt.source})
			if e != nil || !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("New = %v, %v; want no engine and ErrInvalidPolicy", e, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func TestNewRefusesPolicyWithoutModules(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "data.json"), `{}`)
	if _, err := New(context.Background(), Options{Source: dir}); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("err = %v, want ErrInvalidPolicy", err)
	}
}

func TestReloadKeepsWorkingPolicyOnFailure(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.rego")
	writeFile(t, file, markerPolicy(true))
	e := newEngine(t, Options{Source: dir})
	st := e.Status()
	if st.Revision != 1 || st.Digest == "" || st.LastError != "" || st.Source != dir || st.LoadedAt.IsZero() {
		t.Fatalf("initial status %+v", st)
	}

	steps := []struct {
		name     string
		content  string // written to policy.rego
		wantErr  string // "" = reload succeeds
		wantRev  int
		wantCat  bool
		sameHash bool // digest unchanged
	}{
		{"broken syntax", "package tmf.authz\nallow if {", "rego_parse_error", 1, true, true},
		{"missing visible", "package tmf.authz\n\ndefault allow := false\n", "lacks rule data.tmf.authz.visible", 1, true, true},
		{"fixed, new behaviour", markerPolicy(false), "", 2, false, false},
		{"reload of unchanged content", markerPolicy(false), "", 3, false, true},
	}
	prevDigest := st.Digest
	for _, s := range steps {
		writeFile(t, file, s.content)
		err := e.Reload(ctx)
		st := e.Status()
		if s.wantErr != "" {
			if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), s.wantErr) {
				t.Fatalf("%s: Reload = %v, want ErrInvalidPolicy naming %q", s.name, err, s.wantErr)
			}
			if st.LastError != err.Error() || st.LastErrorAt.IsZero() {
				t.Errorf("%s: status %+v does not keep the error", s.name, st)
			}
		} else {
			if err != nil {
				t.Fatalf("%s: Reload: %v", s.name, err)
			}
			if st.LastError != "" || !st.LastErrorAt.IsZero() {
				t.Errorf("%s: status %+v keeps a stale error", s.name, st)
			}
		}
		if st.Revision != s.wantRev {
			t.Errorf("%s: revision %d, want %d", s.name, st.Revision, s.wantRev)
		}
		if got := catalogAllowed(t, e); got != s.wantCat {
			t.Errorf("%s: catalog.read allowed = %v, want %v", s.name, got, s.wantCat)
		}
		if (st.Digest == prevDigest) != s.sameHash {
			t.Errorf("%s: digest %s (was %s), want unchanged: %v", s.name, st.Digest, prevDigest, s.sameHash)
		}
		prevDigest = st.Digest
	}
}

// A vanished source is a failed reload like any other.
func TestReloadOfVanishedSource(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "policy")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "policy.rego"), markerPolicy(true))
	e := newEngine(t, Options{Source: dir})
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(context.Background()); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("Reload = %v, want ErrInvalidPolicy", err)
	}
	if !catalogAllowed(t, e) || e.Status().Revision != 1 {
		t.Errorf("working policy lost: status %+v", e.Status())
	}
}

// Only policy files count: tests, editor files and hidden directories are
// neither loaded nor fingerprinted.
func TestSourceIgnoresNonPolicyFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "policy.rego"), markerPolicy(true))
	e := newEngine(t, Options{Source: dir})
	digest := e.Status().Digest
	writeFile(t, filepath.Join(dir, "broken_test.rego"), "package x\nthis is not rego")
	writeFile(t, filepath.Join(dir, ".policy.rego.swp"), "junk")
	writeFile(t, filepath.Join(dir, "notes.txt"), "junk")
	if err := os.Mkdir(filepath.Join(dir, "..2026_11_21"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "..2026_11_21", "policy.rego"), "package tmf.authz\nallow := 1")
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.Status().Digest != digest {
		t.Errorf("digest changed on non-policy files")
	}
}

func TestWatchPicksUpChanges(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.rego")
	writeFile(t, file, markerPolicy(true))
	e := newEngine(t, Options{Source: dir})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Watch(ctx, 5*time.Millisecond)
	}()
	defer func() {
		cancel()
		<-done
	}()

	// waitFor polls until cond holds; the deadline only guards against a
	// hang, it is not what the test measures.
	waitFor := func(what string, cond func(Status) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond(e.Status()) {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s; status %+v", what, e.Status())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	writeFile(t, file, markerPolicy(false))
	waitFor("the change to load", func(s Status) bool { return s.Revision == 2 })
	if catalogAllowed(t, e) {
		t.Error("new policy not in force")
	}

	writeFile(t, file, "package tmf.authz\nallow if {")
	waitFor("the broken change to be reported", func(s Status) bool { return s.LastError != "" })
	if st := e.Status(); st.Revision != 2 || catalogAllowed(t, e) {
		t.Errorf("broken change replaced the policy: %+v", st)
	}

	writeFile(t, file, markerPolicy(true))
	waitFor("the fix to load", func(s Status) bool { return s.Revision == 3 && s.LastError == "" })
	if !catalogAllowed(t, e) {
		t.Error("fixed policy not in force")
	}
}

func TestWatchEmbeddedReturns(t *testing.T) {
	e := newEngine(t, Options{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Watch(context.Background(), time.Millisecond) // must not block
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch blocked on the embedded policy")
	}
}

func TestBundleTarballSource(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.tar.gz")
	files := map[string]string{}
	for _, name := range []string{"authz.rego", "functions.rego", "visible.rego", "orders.rego", "orders_test.rego"} {
		bs, err := policyFiles.ReadFile("policy/" + name)
		if err != nil {
			t.Fatal(err)
		}
		files["tmf/"+name] = string(bs)
	}
	files[".manifest"] = `{"revision": "r1", "roots": ["tmf"]}`
	files["tmf/authz/data.json"] = `{"note": "bundle data"}`
	if err := os.WriteFile(path, tarball(t, files), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, Options{Source: path})
	ctx := context.Background()
	r := ownOrder(buyerAlice)
	d, err := e.Decide(ctx, Input{Principal: buyerAlice, Action: "order.read", Resource: &r})
	if err != nil || !d.Allow || !d.Visible {
		t.Fatalf("Decide = %+v, %v; want allowed and visible", d, err)
	}
	f, err := e.Filter(ctx, agentEast, "order.list")
	if err != nil || len(f.Any) != 2 {
		t.Fatalf("Filter = %+v, %v; want own or subtree", f, err)
	}

	// A broken bundle does not replace it.
	if err := os.WriteFile(path, []byte("not a tarball"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(ctx); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("Reload = %v, want ErrInvalidPolicy", err)
	}
	if d, err := e.Decide(ctx, Input{Principal: buyerAlice, Action: "order.read", Resource: &r}); err != nil || !d.Allow {
		t.Errorf("after failed reload: %+v, %v", d, err)
	}
}

// Decisions made while the policy is swapped come whole from one policy or
// the other. Run with -race.
func TestConcurrentDecideDuringReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.rego")
	writeFile(t, file, markerPolicy(true))
	e := newEngine(t, Options{Source: dir})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				d, err := e.Decide(context.Background(), Input{Principal: buyerAlice, Action: "catalog.read"})
				if err != nil {
					errs <- err
					return
				}
				if d.Allow != d.Visible {
					errs <- fmt.Errorf("decision %+v mixes two policies", d)
					return
				}
				if _, err := e.Filter(context.Background(), buyerAlice, "catalog.read"); err != nil {
					errs <- err
					return
				}
				_ = e.Status()
			}
		})
	}
	for i := range 20 {
		writeFile(t, file, markerPolicy(i%2 == 0))
		if err := e.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := e.Status().Revision; got != 21 {
		t.Errorf("revision %d, want 21", got)
	}
	if catalogAllowed(t, e) { // the last policy written (i = 19) denies
		t.Error("the last policy is not in force")
	}
}

func TestOptionDefaults(t *testing.T) {
	e, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e.timeout != DefaultTimeout || e.log == nil {
		t.Errorf("timeout %v, logger %v: defaults not applied", e.timeout, e.log)
	}
	if st := e.Status(); st.Source != "" || st.Revision != 1 || st.Digest == "" {
		t.Errorf("embedded status %+v", st)
	}
}
