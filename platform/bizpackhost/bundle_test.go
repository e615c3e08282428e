package bizpackhost

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

type entry struct {
	name, body, link string
	mode             int64
	dir              bool
}

func writeTarGz(t *testing.T, p string, entries []entry) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		switch {
		case e.dir:
			h.Typeflag, h.Size = tar.TypeDir, 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			_, _ = tw.Write([]byte(e.body))
		}
	}
	_ = tw.Close()
	_ = gz.Close()
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

const okManifest = `{"interpreter": "node", "entry": "main.js"}`

// unpack refuses what would leave the bundle or is not a plain file, and
// leaves nothing behind when it does; what it unpacks is read-only.
func TestUnpackBundle(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		ok      bool
	}{
		{"files, a directory, an internal link", []entry{{name: "bundle.json", body: okManifest}, {name: "main.js", body: "x"},
			{name: "lib", dir: true}, {name: "lib/a.js", body: "a", mode: 0o755}, {name: "lib/b.js", link: "a.js"}}, true},
		{"absolute path", []entry{{name: "/etc/x", body: "x"}}, false},
		{"dot-dot", []entry{{name: "a/../../x", body: "x"}}, false},
		{"link out", []entry{{name: "l", link: "../../etc/passwd"}}, false},
		{"absolute link", []entry{{name: "l", link: "/etc/passwd"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "b.tar.gz")
			writeTarGz(t, src, tc.entries)
			dst := filepath.Join(dir, "out")
			err := unpack(src, "tar.gz", dst)
			if !tc.ok {
				if !errors.Is(err, ErrBundle) {
					t.Fatalf("unpack = %v, want ErrBundle", err)
				}
				left, _ := filepath.Glob(filepath.Join(dir, "*"))
				if len(left) != 1 {
					t.Fatalf("left behind: %v", left)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer removeTree(dst)
			st, err := os.Stat(filepath.Join(dst, "lib", "a.js"))
			if err != nil || st.Mode().Perm() != 0o555 {
				t.Fatalf("lib/a.js: %v %v, want 0555", st.Mode(), err)
			}
			if st, _ := os.Stat(filepath.Join(dst, "main.js")); st.Mode().Perm() != 0o444 {
				t.Fatalf("main.js mode %v, want 0444", st.Mode())
			}
			if st, _ := os.Stat(dst); st.Mode().Perm() != 0o555 {
				t.Fatalf("bundle dir mode %v, want 0555", st.Mode())
			}
			if b, err := os.ReadFile(filepath.Join(dst, "lib", "b.js")); err != nil || string(b) != "a" {
				t.Fatalf("link: %q %v", b, err)
			}
			if err := CheckBundle(src); err != nil {
				t.Fatalf("CheckBundle = %v", err)
			}
		})
	}
}

func TestCheckBundleZipAndBinaries(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range map[string]string{"bundle.json": okManifest, "main.js": ""} {
		w, _ := zw.Create(name)
		_, _ = w.Write([]byte(body))
	}
	_ = zw.Close()
	z := filepath.Join(dir, "b.zip")
	if err := os.WriteFile(z, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckBundle(z); err != nil {
		t.Fatalf("zip bundle: %v", err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.WriteFile(bin, []byte("\x7fELF..."), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckBundle(bin); err != nil {
		t.Fatalf("a binary is not a bundle to check: %v", err)
	}
	if ok, _ := IsBundle(bin); ok {
		t.Fatal("a binary taken for a bundle")
	}
	if ok, _ := IsBundle(z); !ok {
		t.Fatal("a zip not taken for a bundle")
	}
}
