package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// An identity changed through the admin API survives a restart, and the
// stored revision wins over the configuration file on later starts: the
// file only seeds an empty store.
func TestConfigurationRevisionsSurviveRestarts(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "tmf.db")
	start := func() (base string, stop func()) {
		r := runServe(t, serveOptions{DB: db, AdminToken: testAdminToken, BizpackDir: filepath.Join(dir, "bizpacks")})
		return r.Base, func() {
			if err := r.Stop(); err != nil {
				t.Fatalf("serve: %v\n%s", err, lastLines(r.Stderr.String(), logLines))
			}
		}
	}
	call := func(method, url, body string, headers ...string) (int, map[string]any) {
		t.Helper()
		return apiCall(t, "", testAdminToken, method, url, body, headers...)
	}

	base, stop := start()
	status, out := call("PUT", base+"/v1/admin/identities/retail.vip", `{"name":"VIP","paymentTimeout":"5m","rules":[{"buyer":{"tier":"vip"}}]}`,
		"If-Match", `"1"`)
	if status != http.StatusCreated || out["revision"] != float64(2) {
		t.Fatalf("create retail.vip: %d %v", status, out)
	}
	stop()

	base, stop = start()
	defer stop()
	status, out = call("GET", base+"/v1/admin/identities/retail.vip", "")
	if status != http.StatusOK || out["name"] != "VIP" || out["revision"] != float64(2) {
		t.Fatalf("retail.vip after a restart: %d %v", status, out)
	}
	if status, out := call("GET", base+"/v1/admin/audit?targetType=identity&targetId=retail.vip", ""); status != http.StatusOK ||
		len(out["items"].([]any)) != 1 {
		t.Fatalf("audit after a restart: %d %v", status, out)
	}
	resp, err := http.Get(base + "/admin/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("the console at /admin/: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
