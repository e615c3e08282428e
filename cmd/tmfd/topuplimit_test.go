package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// The virtual-topup example, its config.yaml as shipped and its bizpack as
// a plugin process: the limit per phone number (3 a day, per the order
// attribute the bizpack's manifest declares required) counts the top-ups
// of one number whichever account pays.
func TestTopupLimitPerPhone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a bizpack")
	}
	dir := t.TempDir()
	_, sum := buildExample(t, filepath.Join(dir, "virtual-topup"), "virtual-topup")
	example, err := os.ReadFile("../../bizpacks/virtual-topup/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := regexp.MustCompile(`(?m)^(\s+path:).*$`).ReplaceAll(example, []byte("${1} ./virtual-topup"))
	cfg = regexp.MustCompile(`(?m)^(\s+sha256:).*$`).ReplaceAll(cfg, []byte("${1} "+sum))
	path := filepath.Join(dir, "tmfd.yaml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := runServe(t, serveOptions{DB: filepath.Join(dir, "tmf.db"), Config: path, Demo: true, AdminToken: testAdminToken})
	n := 0
	// A bizpack call past its point's deadline (a loaded machine, a cold
	// plugin) is a 504 that writes nothing: such a top-up is sent again.
	topup := func(token, phone string) (status int, o map[string]any) {
		for range 30 {
			n++
			status, o = apiCall(t, srv.Base, token, "POST", "/v1/orders",
				fmt.Sprintf(`{"items":[{"sku":"topup-50","quantity":1}],"attributes":{"phone":%q}}`, phone), "Idempotency-Key", fmt.Sprintf("topup-%d", n))
			if status != http.StatusGatewayTimeout || o["code"] != "extension_timeout" {
				break
			}
		}
		return status, o
	}
	const phone = "+8613800138000"
	for i, token := range []string{"demo-alice", "demo-alice", "demo-bob"} {
		if status, o := topup(token, phone); status != http.StatusCreated || o["bizCode"] != "virtual.topup" {
			t.Fatalf("top-up %d: %d %v", i+1, status, o)
		}
	}
	status, o := topup("demo-bob", phone)
	if status != http.StatusConflict || o["code"] != "purchase_limit_exceeded" || o["limitName"] != "per-phone-daily" ||
		o["per"] != "attr:phone" || o["used"] != float64(3) {
		t.Fatalf("a fourth top-up of one number: %d %v", status, o)
	}
	if status, o := topup("demo-bob", "+8613800138001"); status != http.StatusCreated {
		t.Fatalf("another number: %d %v", status, o)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("serve: %v\nstderr: %s", err, lastLines(srv.Stderr.String(), logLines))
	}
}
