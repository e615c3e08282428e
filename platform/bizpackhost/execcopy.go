package bizpackhost

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tmf-platform/tmf/extensions/plugin"
)

// execCopy copies the binary at path once into dir, a directory the host
// owns, as <dir>/<sha256>, mode 0500, hashing the bytes it copies, and
// returns the copy's path: what runs is exactly what was checked, however
// the file at path changes afterwards (the checksum of a path that is then
// executed again by name leaves a window for a swap). With reuse (a
// restart of a version that already ran), a copy already there is hashed
// again and used without reading path; otherwise path is copied afresh,
// so a load always checks the file it names.
func execCopy(dir, path, want string, reuse bool) (string, error) {
	want = strings.ToLower(strings.TrimSpace(want))
	dst := filepath.Join(dir, want)
	if f, err := os.Open(dst); reuse && err == nil {
		got, herr := plugin.Checksum(f)
		f.Close()
		if herr == nil && got == want {
			return dst, nil
		}
		_ = os.Remove(dst)
	}
	src, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(dir, ".copy-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), src)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("copying %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return "", fmt.Errorf("%w: %s (its SHA-256 is %s)", plugin.ErrChecksum, path, got)
	}
	if err := os.Chmod(tmp.Name(), 0o500); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", err
	}
	return dst, nil
}
