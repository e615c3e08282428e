package authz

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
)

// newEngine builds an engine or fails the test. Unless the test sets one, the
// timeout is generous: outcomes must not depend on how loaded the machine
// running the tests is (-race, parallel packages).
func newEngine(t testing.TB, o Options) *Engine {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	e, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("New(%+v): %v", o, err)
	}
	return e
}

// copyTree copies the files of fsys into a new temporary directory.
func copyTree(t testing.TB, fsys fs.FS) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		bs, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, bs, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tarball packs files (slash path → content) as a bundle .tar.gz.
func tarball(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, content := range files {
		hdr := &tar.Header{Name: "/" + name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// matches is the reference semantics of a Filter, for tests: what a SQL
// WHERE clause built from it must select.
func matches(f Filter, r Resource) bool {
	if f.All {
		return true
	}
	for _, conj := range f.Any {
		if conjunctionMatches(conj, r) {
			return true
		}
	}
	return false
}

func conjunctionMatches(conj Conjunction, r Resource) bool {
	for _, c := range conj {
		v := fieldValue(r, c.Field)
		switch c.Op {
		case OpEqual:
			if len(c.Values) != 1 || v != c.Values[0] {
				return false
			}
		case OpPrefix:
			if len(c.Values) != 1 || len(v) < len(c.Values[0]) || v[:len(c.Values[0])] != c.Values[0] {
				return false
			}
		case OpIn:
			found := false
			for _, x := range c.Values {
				found = found || v == x
			}
			if !found {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func fieldValue(r Resource, field string) string {
	switch field {
	case "type":
		return r.Type
	case "id":
		return r.ID
	case "buyer_id":
		return r.BuyerID
	case "owner_path":
		return r.OwnerPath
	case "biz_code":
		return r.BizCode
	case "event":
		return r.Event
	}
	panic("unknown field " + field)
}

func msec(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func regoInput(in Input) rego.EvalOption { return rego.EvalParsedInput(in.value()) }
