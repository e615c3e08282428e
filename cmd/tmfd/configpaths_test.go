package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Relative bizpack paths of a configuration file resolve against the file's
// directory and come out absolute, whatever the --config path: a relative
// --config in the current directory does not leave "pack" to a $PATH
// lookup.
func TestBizpackPathsResolveAgainstTheConfigFile(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	const file = `bizpackInterpreters: {node: /usr/bin/node}
bizpacks:
  - name: pack
    path: pack.tar.gz
    sha256: "0000000000000000000000000000000000000000000000000000000000000000"
    dir: work
    readWrite: [data]
`
	for _, p := range []string{filepath.Join(dir, "tmf.yaml"), filepath.Join(dir, "conf", "tmf.yaml")} {
		if err := os.WriteFile(p, []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	for _, tc := range []struct{ config, base string }{
		{"tmf.yaml", dir},
		{"./tmf.yaml", dir},
		{"conf/tmf.yaml", filepath.Join(dir, "conf")},
		{filepath.Join(dir, "conf", "tmf.yaml"), filepath.Join(dir, "conf")},
	} {
		t.Run(tc.config, func(t *testing.T) {
			fc, err := loadFile(tc.config)
			if err != nil {
				t.Fatal(err)
			}
			b := fc.Bizpacks[0]
			if b.Path != filepath.Join(tc.base, "pack.tar.gz") || b.Dir != filepath.Join(tc.base, "work") ||
				b.ReadWrite[0] != filepath.Join(tc.base, "data") {
				t.Fatalf("path %q dir %q readWrite %v; want them under %s", b.Path, b.Dir, b.ReadWrite, tc.base)
			}
			if fc.BizpackInterpreters["node"] != "/usr/bin/node" {
				t.Fatalf("interpreters %v", fc.BizpackInterpreters)
			}
		})
	}
}
