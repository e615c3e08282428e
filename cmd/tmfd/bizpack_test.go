package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/bizpackhost"
)

// The flash-sale example bizpack, bound in a configuration file, runs as a
// plugin process of the server: its guard allows one order per buyer, its
// manifest's payment timeout applies, and the process ends with the
// server.
func TestServeRunsABoundBizpack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a bizpack")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "flash-sale")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "../../bizpacks/flash-sale")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building flash-sale: %v\n%s", err, out)
	}
	sum, err := bizpackhost.Checksum(bin)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "tmfd.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`revision: 1
identities:
  - code: retail
    products: [{name: standard-retail}]
  - code: retail.flash
    name: Flash sale
    bizpacks: [{name: flash-sale}]
    purchaseLimits: [{name: one-per-buyer, scope: identity, window: lifetime, max: 1}]
rules:
  - identity: retail
  - identity: retail.flash   # buyers name it; the rule lets them
    channel: flash
bizpacks:
  - name: flash-sale
    path: ./flash-sale   # relative to this file
    sha256: %s
`, sum)), 0o600); err != nil {
		t.Fatal(err)
	}

	srv := runServe(t, serveOptions{DB: filepath.Join(dir, "tmf.db"), Config: cfg, Demo: true, AdminToken: testAdminToken})
	base := srv.Base
	pids := processesOf(t, bin, sum)
	if len(pids) != 1 {
		t.Fatalf("%d flash-sale processes running, want 1", len(pids))
	}

	place := func(key string) (int, map[string]any) {
		return apiCall(t, base, "demo-alice", "POST", "/v1/orders",
			`{"bizCode":"retail.flash","channel":"flash","items":[{"sku":"phone-x","quantity":1}],"shippingAddress":{"region":"east"}}`, "Idempotency-Key", key)
	}
	status, o := place("flash-1")
	if status != http.StatusCreated {
		t.Fatalf("first flash order: %d %v", status, o)
	}
	created, _ := time.Parse(time.RFC3339Nano, o["createdAt"].(string))
	deadline, _ := time.Parse(time.RFC3339Nano, o["paymentDeadline"].(string))
	if got := deadline.Sub(created); got != 2*time.Minute {
		t.Fatalf("payment deadline %s after creation, want the bizpack's 2m", got)
	}
	status, o = place("flash-2")
	if status != http.StatusConflict || o["code"] != "purchase_limit_exceeded" || o["limitName"] != "one-per-buyer" || o["used"] != float64(1) {
		t.Fatalf("second flash order of the same buyer: %d %v", status, o)
	}

	if err := srv.Stop(); err != nil {
		t.Fatalf("serve: %v\nstderr: %s", err, lastLines(srv.Stderr.String(), logLines))
	}
	if left := processesOf(t, bin, sum); len(left) != 0 {
		t.Fatalf("bizpack processes %v left after the server stopped", left)
	}
}

// processesOf lists the running (non-zombie) processes of an executable,
// run from its path or from the host's checked copy (named by its sum).
func processesOf(t *testing.T, exe, sum string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc here")
	}
	var out []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		if target, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && (target == exe || filepath.Base(target) == sum) {
			if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !strings.Contains(string(stat), ") Z ") {
				out = append(out, pid)
			}
		}
	}
	return out
}
