package authz

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/loader/filter"
)

// policySnapshot is one consistent read of a policy source: the bytes that
// are loaded are the bytes that are fingerprinted, so a file edited while it
// is being read cannot yield a digest for content that was never compiled.
type policySnapshot struct {
	digest string
	// base names the source in module file names and error messages.
	base string
	// files holds a directory's (or the embedded policy's) policy files, keyed
	// by slash-separated path relative to the source root.
	files map[string][]byte
	// tarball holds a bundle archive; nil for directories.
	tarball []byte
}

// readSource snapshots the policy at src ("" = the embedded policy).
func readSource(src string) (*policySnapshot, error) {
	if src == "" {
		return readTree(DefaultPolicy(), "embedded")
	}
	info, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		return readTree(os.DirFS(src), src)
	}
	bs, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(bs)
	return &policySnapshot{digest: hex.EncodeToString(sum[:]), base: src, tarball: bs}, nil
}

// isPolicyFile reports whether a file (slash path relative to the source root)
// is part of the policy the engine loads. Tests, editor leftovers and other
// files are not, so changing them neither reloads nor breaks the policy.
func isPolicyFile(p string) bool {
	name := path.Base(p)
	switch {
	case name == bundle.ManifestExt:
		return true
	case strings.HasPrefix(name, "."):
		return false
	case strings.HasSuffix(name, "_test.rego"):
		return false
	case strings.HasSuffix(name, bundle.RegoExt):
		return true
	}
	return name == "data.json" || name == "data.yaml" || name == "data.yml"
}

// readTree reads the policy files of a directory tree. Hidden directories are
// skipped (a Kubernetes ConfigMap mount keeps a second copy of every file in
// one), and symbolic links are followed to files but not into directories.
func readTree(fsys fs.FS, base string) (*policySnapshot, error) {
	files := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if !isPolicyFile(p) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			info, err := fs.Stat(fsys, p)
			if err != nil {
				return err
			}
			if !info.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		bs, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files[p] = bs
		return nil
	})
	if err != nil {
		return nil, err
	}

	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(files)) {
		// Length-prefix both parts so that no two trees hash alike.
		fmt.Fprintf(h, "%d:%s%d:", len(p), p, len(files[p]))
		h.Write(files[p])
	}
	return &policySnapshot{digest: hex.EncodeToString(h.Sum(nil)), base: base, files: files}, nil
}

// bundle parses the snapshot as an OPA bundle in Rego v1.
func (s *policySnapshot) bundle() (*bundle.Bundle, error) {
	var dl bundle.DirectoryLoader
	if s.tarball != nil {
		dl = bundle.NewTarballLoaderWithBaseURL(bytes.NewReader(s.tarball), s.base).
			WithFilter(skipNonPolicyFiles)
	} else {
		dl = newMemLoader(s.base, s.files)
	}
	b, err := bundle.NewCustomReader(dl).
		WithRegoVersion(ast.RegoV1).
		WithBundleName(s.base).
		WithBaseDir(s.base). // module file names (and errors) name the source
		Read()
	if err != nil {
		return nil, err
	}
	if b.Type() == bundle.DeltaBundleType {
		return nil, errors.New("delta bundles are not supported")
	}
	return &b, nil
}

// skipNonPolicyFiles is the tarball counterpart of isPolicyFile.
var skipNonPolicyFiles filter.LoaderFilter = func(abspath string, info fs.FileInfo, _ int) bool {
	return !info.IsDir() && !isPolicyFile(abspath)
}

// memLoader serves snapshot files to the bundle reader.
type memLoader struct {
	base  string
	paths []string
	files map[string][]byte
	next  int
}

func newMemLoader(base string, files map[string][]byte) *memLoader {
	return &memLoader{base: base, paths: slices.Sorted(maps.Keys(files)), files: files}
}

func (l *memLoader) NextFile() (*bundle.Descriptor, error) {
	if l.next >= len(l.paths) {
		return nil, io.EOF
	}
	p := l.paths[l.next]
	l.next++
	// The bundle reader expects slash-rooted paths; the URL names the file
	// in compile errors.
	return bundle.NewDescriptor(filepath.Join(l.base, filepath.FromSlash(p)), "/"+p, bytes.NewReader(l.files[p])), nil
}

// The snapshot is already filtered and in memory: these options do not apply.
func (l *memLoader) WithFilter(filter.LoaderFilter) bundle.DirectoryLoader   { return l }
func (l *memLoader) WithPathFormat(bundle.PathFormat) bundle.DirectoryLoader { return l }
func (l *memLoader) WithSizeLimitBytes(int64) bundle.DirectoryLoader         { return l }
func (l *memLoader) WithFollowSymlinks(bool) bundle.DirectoryLoader          { return l }

var _ bundle.DirectoryLoader = (*memLoader)(nil)
