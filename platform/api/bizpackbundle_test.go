package api_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// tarGz is a gzipped tar of files.
func tarGz(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// zipOf is a zip archive of files.
func zipOf(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// A bundle (an archive with bundle.json) is uploaded like a binary, kept
// under the archive's SHA-256 and reloaded by it; a broken bundle is
// refused at the upload and nothing is kept.
func TestBizpackUploadBundle(t *testing.T) {
	dir := t.TempDir()
	fake := newFakeBizpacks()
	e := newEnv(t, storetest.Open(t, "sqlite"), withBizpacks(fake), withUploads(dir, 0))
	good := map[string]string{"bundle.json": `{"interpreter": "node", "entry": "main.js"}`, "main.js": "// rule", "lib/x.js": ""}
	tests := []struct {
		name, body, contentType string
		status                  int
		code                    string
	}{
		{"tar.gz", tarGz(t, good), "application/gzip", 201, ""},
		{"zip", zipOf(t, good), "application/zip", 201, ""},
		{"tar.gz as octets", tarGz(t, good), "application/octet-stream", 201, ""},
		{"no bundle.json", tarGz(t, map[string]string{"main.js": ""}), "application/gzip", 400, "bizpack_upload_invalid"},
		{"entry missing", tarGz(t, map[string]string{"bundle.json": `{"interpreter": "node", "entry": "gone.js"}`}), "application/gzip", 400, "bizpack_upload_invalid"},
		{"path leaving the bundle", tarGz(t, map[string]string{"bundle.json": `{"interpreter": "node", "entry": "main.js"}`, "main.js": "", "../evil": ""}),
			"application/gzip", 400, "bizpack_upload_invalid"},
		{"unknown field in bundle.json", zipOf(t, map[string]string{"bundle.json": `{"interpreter": "node", "entry": "main.js", "path": "/bin/sh"}`, "main.js": ""}),
			"application/zip", 400, "bizpack_upload_invalid"},
		{"broken gzip", "\x1f\x8b not gzip at all", "application/gzip", 400, "bizpack_upload_invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			r := e.do("PUT", "/v1/admin/bizpacks/virtual-topup/binaries", adminToken, tc.body, "Content-Type", tc.contentType)
			expect(t, r, tc.status, tc.code)
			kept := filesUnder(t, dir)
			if tc.status != 201 {
				if len(kept) != 0 {
					t.Fatalf("a refused upload left %v", kept)
				}
				return
			}
			sum := decodeJSON[api.BizpackUpload](t, r).SHA256
			if sum != sha256Hex(tc.body) || len(kept) != 1 || kept[0] != filepath.Join("virtual-topup", sum) {
				t.Fatalf("kept %v, answered %s", kept, sum)
			}
			expect(t, e.do("POST", "/v1/admin/bizpacks/virtual-topup/reload", adminToken, map[string]string{"sha256": sum}), 200, "")
		})
	}
}
