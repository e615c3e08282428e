package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/authz"
)

// A policy directory given with --policy is watched: a change that compiles
// is in force without a restart, one that does not never replaces it.
func TestServeReloadsItsPolicyDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, authz.DefaultPolicy()); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, serveOptions{Listen: addr, DB: filepath.Join(t.TempDir(), "tmf.db"), Demo: true,
			AdminToken: testAdminToken, Policy: dir}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	base := "http://" + addr
	waitReady(t, base)
	get := func(path, token string) (int, map[string]any) {
		t.Helper()
		return apiCall(t, base, token, http.MethodGet, path, "")
	}
	status := func() map[string]any {
		_, st := get("/v1/admin/policies", testAdminToken)
		return st
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30s; policy status %v\nstderr: %s", what, status(), lastLines(stderr.String(), logLines))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if code, _ := get("/v1/skus/phone-x", "demo-alice"); code != http.StatusOK {
		t.Fatalf("alice reads the catalogue: %d", code)
	}
	rev := status()["revision"]

	// A policy that no longer lets buyers read the catalogue.
	fn := filepath.Join(dir, "functions.rego")
	text, err := os.ReadFile(fn)
	if err != nil {
		t.Fatal(err)
	}
	narrowed := strings.Replace(string(text), `allowed["catalog.read"] if any_role`, `allowed["catalog.read"] if is_admin`, 1)
	if narrowed == string(text) {
		t.Fatal("functions.rego no longer has the catalog.read rule this test edits")
	}
	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(fn, narrowed)
	waitFor("the edited policy in force", func() bool { code, _ := get("/v1/skus/phone-x", "demo-alice"); return code == http.StatusForbidden })
	if st := status(); st["revision"] == rev || st["lastError"] != nil {
		t.Fatalf("status after a good edit: %v", st)
	}

	// A broken edit is refused and the policy in force stays.
	write(filepath.Join(dir, "broken.rego"), "package tmf.authz\n\nallow if {\n")
	waitFor("the broken edit reported", func() bool { return status()["lastError"] != nil })
	if code, _ := get("/v1/skus/phone-x", "demo-alice"); code != http.StatusForbidden {
		t.Fatalf("after a broken edit alice reads the catalogue: %d, want the edited policy's 403", code)
	}
	if code, _ := get("/v1/skus/phone-x", testAdminToken); code != http.StatusOK {
		t.Fatalf("after a broken edit the administrator reads the catalogue: %d", code)
	}
}
