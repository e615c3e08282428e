package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// --pprof-listen serves profiles to an admin on a listener of its own:
// without a token or with a buyer's the answer is a problem, never a
// profile; the public listener has no profiles; without the flag nothing
// listens.
func TestPprofListenerIsAdminOnlyAndOffByDefault(t *testing.T) {
	pprofAddr := freeAddr(t)
	r := runServe(t, serveOptions{DB: filepath.Join(t.TempDir(), "tmf.db"), AdminToken: testAdminToken, PprofListen: pprofAddr})
	status, out := apiCall(t, r.Base, testAdminToken, "POST", "/v1/admin/principals", `{"id":"buyer-1","roles":["buyer"]}`)
	buyer, _ := out["token"].(string)
	if status != 201 || buyer == "" {
		t.Fatalf("create a buyer: %d %v", status, out)
	}

	get := func(url, token string) (int, string, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), body
	}
	base := "http://" + pprofAddr + "/debug/pprof/"
	for _, tc := range []struct {
		name, url, token string
		status           int
		problem          string
	}{
		{"no token", base + "heap", "", 401, "unauthenticated"},
		{"a wrong token", base + "heap", "not-a-token-of-anyone-at-all-0123456789", 401, "unauthenticated"},
		{"a buyer", base + "heap", buyer, 403, "forbidden"},
		{"a buyer asks for a CPU profile", base + "profile?seconds=1", buyer, 403, "forbidden"},
		{"an unknown profile", base + "nonesuch", testAdminToken, 404, "not_found"},
		{"the public listener", r.Base + "/debug/pprof/heap", testAdminToken, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, ct, body := get(tc.url, tc.token)
			if status != tc.status {
				t.Fatalf("%d %s; want %d", status, body, tc.status)
			}
			if ct != "application/problem+json" {
				t.Fatalf("content type %q of %s", ct, body)
			}
			if tc.problem != "" && !bytes.Contains(body, []byte(`"code":"`+tc.problem+`"`)) {
				t.Fatalf("%s; want code %s", body, tc.problem)
			}
		})
	}
	t.Run("an admin gets a heap and a CPU profile", func(t *testing.T) {
		for _, url := range []string{base + "heap", base + "profile?seconds=1"} {
			status, _, body := get(url, testAdminToken)
			if status != 200 {
				t.Fatalf("%s: %d %s", url, status, body)
			}
			// A profile is a gzipped protocol buffer.
			if len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
				t.Fatalf("%s: not a profile: %.80q", url, body)
			}
		}
		status, _, body := get(base, testAdminToken)
		if status != 200 || !strings.Contains(string(body), "goroutine") {
			t.Fatalf("index: %d %s", status, body)
		}
	})

	t.Run("without the flag nothing listens", func(t *testing.T) {
		addr := freeAddr(t)
		r2 := runServe(t, serveOptions{DB: filepath.Join(t.TempDir(), "tmf.db"), AdminToken: testAdminToken})
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("something listens on %s", addr)
		}
		if status, _, _ := get(r2.Base+"/debug/pprof/", testAdminToken); status != 404 {
			t.Fatalf("the public listener answers /debug/pprof/ with %d", status)
		}
	})
}

func TestPprofListenRefusesThePublicAddress(t *testing.T) {
	if _, err := servePprof("127.0.0.1:8080", "127.0.0.1:8080", nil, io.Discard, nil); err == nil {
		t.Fatal("the public address was accepted")
	}
}
