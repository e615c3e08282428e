package bizpackhost

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tmf-platform/tmf/extensions/plugin"
)

// A bundle is a bizpack that is not one binary: an archive (tar.gz or zip)
// holding bundle.json at its root, its entry point and every file it runs
// (code, protos, dependencies). The archive's SHA-256 is the bizpack's
// checksum, so it covers everything that runs; the host copies the archive
// into its own directory hashing what it reads (execCopy), unpacks that
// copy into a read-only directory named by the checksum, and runs the
// entry point from there with an interpreter of Options.Interpreters.
//
// bundle.json:
//
//	{"interpreter": "node", "entry": "main.js", "args": ["--no-warnings"]}
//
// interpreter names an allowed interpreter (never a path, never $PATH);
// entry is a regular file of the bundle, relative to its root; args come
// before the entry point (the interpreter's own flags). The interpreter
// runs as <interpreter> [args...] <bundle dir>/<entry> [Spec.Args...], in
// the bundle directory unless Spec.Dir says otherwise, with
// PATH=<interpreter's directory>:/usr/bin:/bin unless Spec.Env sets PATH.
type BundleManifest struct {
	Interpreter string   `json:"interpreter"`
	Entry       string   `json:"entry"`
	Args        []string `json:"args,omitempty"`
}

// BundleFile is the name of a bundle's manifest at the archive's root.
const BundleFile = "bundle.json"

// Limits of an unpacked bundle: a bundle beyond them is refused.
const (
	maxBundleBytes = 512 << 20
	maxBundleFiles = 100_000
)

// ErrBundle wraps every refusal of a bundle: not an archive this host
// reads, a malformed bundle.json, a path escaping the bundle, too large.
var ErrBundle = errors.New("bizpack bundle refused")

// ErrInterpreter: a bundle names an interpreter the host does not allow.
var ErrInterpreter = errors.New("bizpack interpreter not allowed")

// archiveKind tells an archive from a binary by its first bytes: "tar.gz",
// "zip" or "" (a binary or script, run as it is).
func archiveKind(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "tar.gz"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "zip"
	}
	return ""
}

// IsBundle reports whether the file at p is a bundle archive (by its
// content, not its name).
func IsBundle(p string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	return archiveKind(head[:n]) != "", nil
}

// launch is what startOnce runs: the checked executable, the arguments
// before Spec.Args, and for a bundle its directory and interpreter.
type launch struct {
	exec   string   // what is executed (a checked copy, or the interpreter)
	sum    string   // exec's SHA-256
	args   []string // before Spec.Args
	dir    string   // the bundle's directory ("" for a binary)
	interp string   // the interpreter's name ("" for a binary)
}

// prepare copies and checks spec's file and, for a bundle, unpacks it and
// resolves its interpreter.
func (o Options) prepare(spec Spec, reuse bool) (launch, error) {
	copyPath, err := execCopy(o.execDir, spec.Path, spec.SHA256, reuse)
	if err != nil {
		return launch{}, err
	}
	f, err := os.Open(copyPath)
	if err != nil {
		return launch{}, err
	}
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	f.Close()
	kind := archiveKind(head[:n])
	if kind == "" {
		return launch{exec: copyPath, sum: spec.SHA256}, nil
	}
	// Unpacked once per checksum: the directory appears whole (unpack
	// renames it into place) in a directory only the host writes, from
	// the copy execCopy just hashed.
	dir := copyPath + ".d"
	if _, err := os.Stat(dir); err != nil {
		if err := unpack(copyPath, kind, dir); err != nil {
			return launch{}, err
		}
	}
	bm, err := readBundleManifest(dir, spec.Path)
	if err != nil {
		return launch{}, err
	}
	entry := bm.Entry
	interp, ok := o.Interpreters[bm.Interpreter]
	if !ok || !filepath.IsAbs(interp) {
		allowed := make([]string, 0, len(o.Interpreters))
		for name := range o.Interpreters {
			allowed = append(allowed, name)
		}
		slices.Sort(allowed)
		return launch{}, fmt.Errorf("%w: %s names interpreter %q; this server allows %v (bizpackInterpreters)", ErrInterpreter, spec.Path, bm.Interpreter, allowed)
	}
	interp, err = filepath.EvalSymlinks(interp)
	if err != nil {
		return launch{}, fmt.Errorf("%w: interpreter %q: %v", ErrInterpreter, bm.Interpreter, err)
	}
	sum, err := Checksum(interp)
	if err != nil {
		return launch{}, fmt.Errorf("%w: interpreter %q: %v", ErrInterpreter, bm.Interpreter, err)
	}
	args := append(append([]string{}, bm.Args...), filepath.Join(dir, filepath.FromSlash(entry)))
	return launch{exec: interp, sum: sum, args: args, dir: dir, interp: bm.Interpreter}, nil
}

// unpack extracts the archive at src into dst (replaced whole), refusing
// absolute paths, paths or links that leave the bundle, devices, and a
// bundle beyond the size and file-count limits; files end up read-only
// (0444, or 0555 where the archive marks them executable), directories
// 0555. Nothing is left half-written: it extracts into a temporary
// directory beside dst and renames it.
func unpack(src, kind, dst string) (err error) {
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".unpack-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			removeTree(tmp)
		}
	}()
	var files int
	var total int64
	add := func(name string, mode fs.FileMode, linkTarget string, r io.Reader) error {
		files++
		if files > maxBundleFiles {
			return fmt.Errorf("%w: more than %d files", ErrBundle, maxBundleFiles)
		}
		clean := path.Clean(strings.TrimPrefix(name, "./"))
		if clean == "." {
			return nil
		}
		if path.IsAbs(name) || clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("%w: %q leaves the bundle", ErrBundle, name)
		}
		full := filepath.Join(tmp, filepath.FromSlash(clean))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		switch {
		case mode.IsDir():
			return os.MkdirAll(full, 0o755)
		case mode&fs.ModeSymlink != 0:
			target := path.Join(path.Dir(clean), linkTarget)
			if path.IsAbs(linkTarget) || target == ".." || strings.HasPrefix(target, "../") {
				return fmt.Errorf("%w: link %q → %q leaves the bundle", ErrBundle, name, linkTarget)
			}
			return os.Symlink(linkTarget, full)
		case mode.IsRegular():
			out, err := os.OpenFile(full, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			n, err := io.Copy(out, io.LimitReader(r, maxBundleBytes-total+1))
			total += n
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if total > maxBundleBytes {
				return fmt.Errorf("%w: more than %d bytes unpacked", ErrBundle, maxBundleBytes)
			}
			perm := fs.FileMode(0o444)
			if mode&0o111 != 0 {
				perm = 0o555
			}
			return os.Chmod(full, perm)
		}
		return fmt.Errorf("%w: %q is neither a file, a directory nor a link", ErrBundle, name)
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	switch kind {
	case "tar.gz":
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBundle, err)
		}
		tr := tar.NewReader(gz)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("%w: %v", ErrBundle, err)
			}
			if h.Typeflag == tar.TypeXGlobalHeader {
				continue
			}
			if err := add(h.Name, h.FileInfo().Mode(), h.Linkname, tr); err != nil {
				return err
			}
		}
	case "zip":
		st, err := f.Stat()
		if err != nil {
			return err
		}
		zr, err := zip.NewReader(f, st.Size())
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBundle, err)
		}
		for _, zf := range zr.File {
			var target string
			r, err := zf.Open()
			if err != nil {
				return fmt.Errorf("%w: %v", ErrBundle, err)
			}
			if zf.Mode()&fs.ModeSymlink != 0 {
				b, _ := io.ReadAll(io.LimitReader(r, 4096))
				target = string(b)
			}
			err = add(zf.Name, zf.Mode(), target, r)
			r.Close()
			if err != nil {
				return err
			}
		}
	}
	// Read-only from here on: directories last, deepest first.
	var dirs []string
	_ = filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i], 0o555); err != nil {
			return err
		}
	}
	removeTree(dst)
	return os.Rename(tmp, dst)
}

// removeTree removes a directory tree that unpack made read-only.
func removeTree(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}

// sanePath is the PATH of a bundle's environment: the interpreter's own
// directory first, then the system's.
func sanePath(interp string) string {
	dirs := []string{filepath.Dir(interp)}
	for _, d := range []string{"/usr/local/bin", "/usr/bin", "/bin"} {
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return "PATH=" + strings.Join(dirs, ":")
}

// checksumRefusal reports whether err is a refusal no restart cures.
func checksumRefusal(err error) bool {
	return errors.Is(err, plugin.ErrChecksum) || errors.Is(err, ErrBundle) || errors.Is(err, ErrInterpreter)
}

// interpreterDirs are read-only directories an interpreter needs besides
// its binary and the system's libraries (which every bizpack may read):
// Landlock opens them to a bundle run by that interpreter.
var interpreterDirs = map[string][]string{
	"node":    {"/usr/share/nodejs", "/usr/local/lib/node_modules", "/etc/ssl"},
	"python3": {"/usr/local/lib/python3", "/etc/ssl"},
}

// CheckBundle checks, without running anything, that the file at p is
// either not an archive (a binary: nothing to check here) or a bundle this
// host can run apart from its interpreter: an archive it reads, within the
// limits, with a bundle.json whose entry is a file of the bundle. The
// admin API calls it on an upload so that a broken bundle is refused then,
// not at its reload.
func CheckBundle(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	f.Close()
	kind := archiveKind(head[:n])
	if kind == "" {
		return nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(p), ".check-*")
	if err != nil {
		return err
	}
	defer removeTree(tmp)
	dir := filepath.Join(tmp, "b")
	if err := unpack(p, kind, dir); err != nil {
		return err
	}
	_, err = readBundleManifest(dir, p)
	return err
}

// readBundleManifest reads and checks dir/bundle.json: its entry must be
// a regular file of the bundle. name is for messages.
func readBundleManifest(dir, name string) (BundleManifest, error) {
	var bm BundleManifest
	raw, err := os.ReadFile(filepath.Join(dir, BundleFile))
	if err != nil {
		return bm, fmt.Errorf("%w: %s has no %s at its root", ErrBundle, name, BundleFile)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&bm); err != nil {
		return bm, fmt.Errorf("%w: %s: %s: %v", ErrBundle, name, BundleFile, err)
	}
	entry := path.Clean(bm.Entry)
	if bm.Entry == "" || path.IsAbs(entry) || entry == ".." || strings.HasPrefix(entry, "../") {
		return bm, fmt.Errorf("%w: %s: entry %q must be a file of the bundle", ErrBundle, name, bm.Entry)
	}
	if st, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(entry))); err != nil || !st.Mode().IsRegular() {
		return bm, fmt.Errorf("%w: %s: entry %q is not a regular file of the bundle", ErrBundle, name, bm.Entry)
	}
	bm.Entry = entry
	return bm, nil
}
