package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// sha256Pattern is a binary's SHA-256 as tmfctl bizpack sum prints it.
var sha256Pattern = regexp.MustCompile(`^[0-9A-Fa-f]{64}$`)

// BizpackList answers GET /v1/admin/bizpacks: every bizpack in force,
// sorted by name. A server that runs no bizpack host answers no items.
type BizpackList struct {
	Items []BizpackView `json:"items"`
}

// BizpackView is kernel.BizpackState as the API shows it: the same
// members, with Since in UTC and the latencies of Points in microseconds.
type BizpackView struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Status is "running", "starting", "restarting", "refused", "stopped"
	// "in-process", or "idle" (configured, starts when an identity binds it).
	Status string `json:"status"`
	// Breaker is "closed", "open" or "half-open".
	Breaker  string `json:"breaker"`
	Restarts int    `json:"restarts"`
	// Pid of the process in force; absent for an in-process bizpack or a
	// process that is not up.
	Pid int `json:"pid,omitempty"`
	// RoundTrips counts the batches of calls sent to the process.
	RoundTrips int64  `json:"roundTrips"`
	LastError  string `json:"lastError,omitempty"`
	// Since is when the status last changed; absent when never reported.
	Since time.Time `json:"since,omitzero"`
	// Standby is the previous version, kept running for a rollback.
	Standby string `json:"standby,omitempty"`
	// Sandbox says how the process is limited and confined (cgroups or
	// rlimits, nice, its user, Landlock ABI).
	Sandbox string             `json:"sandbox,omitempty"`
	Points  []PointLatencyView `json:"points"`
}

// PointLatencyView summarises the recent calls of one point of a bizpack.
// The latencies are whole microseconds, rounded to the nearest.
type PointLatencyView struct {
	Point     string `json:"point"`
	Calls     int64  `json:"calls"`
	Failures  int64  `json:"failures"`
	P50Micros int64  `json:"p50Micros"`
	P99Micros int64  `json:"p99Micros"`
	// Breaker is the point's own circuit breaker (absent in-process).
	Breaker string `json:"breaker,omitempty"`
}

// BizpackReloadRequest is the optional body of
// POST /v1/admin/bizpacks/{name}/reload: a new binary on the server and its
// SHA-256, or the SHA-256 alone of a binary uploaded with PUT
// /v1/admin/bizpacks/{name}/binaries, or neither: the configured binary is
// started again.
type BizpackReloadRequest struct {
	Path   string `json:"path,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// BizpackVersion answers a reload or a rollback: the version now in force.
type BizpackVersion struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

func bizpackView(st kernel.BizpackState) BizpackView {
	v := BizpackView{Name: st.Name, Version: st.Version, Status: st.Status, Breaker: st.Breaker, Restarts: st.Restarts,
		Pid: st.Pid, RoundTrips: st.RoundTrips, LastError: st.LastError, Standby: st.Standby, Sandbox: st.Sandbox,
		Points: make([]PointLatencyView, 0, len(st.Points))}
	if !st.Since.IsZero() {
		v.Since = st.Since.UTC()
	}
	for _, p := range st.Points {
		v.Points = append(v.Points, PointLatencyView{Point: p.Point, Calls: p.Calls, Failures: p.Failures,
			P50Micros: micros(p.P50), P99Micros: micros(p.P99), Breaker: p.Breaker})
	}
	return v
}

func micros(d time.Duration) int64 { return d.Round(time.Microsecond).Microseconds() }

// listBizpacks answers the state of every bizpack in force.
func (s *Server) listBizpacks(c echo.Context) error {
	out := BizpackList{Items: []BizpackView{}}
	if s.bizpacks != nil {
		for _, st := range s.bizpacks.States() {
			out.Items = append(out.Items, bizpackView(st))
		}
	}
	return c.JSON(http.StatusOK, out)
}

// reloadBizpack starts a configured bizpack again, from a new binary when
// the body names one, and answers the version put in force once healthy.
// The body is checked before the host is asked: a bad body is 400 even for
// an unknown bizpack.
func (s *Server) reloadBizpack(c echo.Context) error {
	name := c.Param("name")
	req, err := s.reloadRequest(c)
	if err != nil {
		return err
	}
	if s.bizpacks == nil {
		return noBizpackHost(name)
	}
	if req.Path == "" && req.SHA256 != "" {
		if req.Path, err = s.uploadedBinary(name, req.SHA256); err != nil {
			return err
		}
	}
	before := s.bizpackVersion(name)
	version, err := s.bizpacks.Reload(c.Request().Context(), name, req.Path, req.SHA256)
	if err != nil {
		return bizpackProblem(name, err)
	}
	s.audit(c, ActionBizpacksWrite, "reload", "bizpack", name, before, s.bizpackVersion(name))
	return c.JSON(http.StatusOK, BizpackVersion{Name: name, Version: version})
}

// reloadRequest reads the optional body of a reload: none (or only white
// space) is the zero request.
func (s *Server) reloadRequest(c echo.Context) (BizpackReloadRequest, error) {
	var req BizpackReloadRequest
	raw, err := readBody(c, s.limits.MaxBodyBytes)
	if err != nil {
		return req, err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return req, nil
	}
	if err := decodeStrict(raw, &req, decodeOptions{}); err != nil {
		return req, err
	}
	switch {
	case req.Path != "" && req.SHA256 == "":
		return req, invalidField("sha256", "path and sha256 go together: send the new binary's checksum (tmfctl bizpack sum PATH)")
	case req.SHA256 != "" && !sha256Pattern.MatchString(req.SHA256):
		return req, invalidField("sha256", "sha256 must be the binary's SHA-256 as 64 hex digits (tmfctl bizpack sum PATH)")
	}
	return req, nil
}

// rollbackBizpack puts the previous version of a bizpack back in force.
func (s *Server) rollbackBizpack(c echo.Context) error {
	name := c.Param("name")
	if s.bizpacks == nil {
		return noBizpackHost(name)
	}
	before := s.bizpackVersion(name)
	version, err := s.bizpacks.Rollback(name)
	if err != nil {
		return bizpackProblem(name, err)
	}
	s.audit(c, ActionBizpacksWrite, "rollback", "bizpack", name, before, s.bizpackVersion(name))
	return c.JSON(http.StatusOK, BizpackVersion{Name: name, Version: version})
}

// DefaultMaxBizpackBytes bounds an uploaded bizpack binary.
const DefaultMaxBizpackBytes = 256 << 20

// bizpackNamePattern is a bizpack's name as manifests give it; it is also a
// directory name under the uploads directory, so nothing else is allowed.
var bizpackNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// BizpackUpload answers PUT /v1/admin/bizpacks/{name}/binaries: the binary
// is kept on the server under its SHA-256, which POST …/reload {"sha256"}
// then puts in force.
type BizpackUpload struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// bizpackVersions is what the audit log keeps of a bizpack: the version in
// force and the standby.
type bizpackVersions struct {
	Version string `json:"version"`
	Standby string `json:"standby,omitempty"`
	Status  string `json:"status"`
}

// bizpackVersion is the bizpack's versions now, nil when it is not running.
func (s *Server) bizpackVersion(name string) *bizpackVersions {
	for _, st := range s.bizpacks.States() {
		if st.Name == name {
			return &bizpackVersions{Version: st.Version, Standby: st.Standby, Status: st.Status}
		}
	}
	return nil
}

// uploadBizpack keeps an uploaded binary (the raw body,
// application/octet-stream) for a configured bizpack. It is written to a
// temporary file while its SHA-256 is computed and renamed into place, so
// a failed or partial upload leaves nothing behind; an upload with an
// X-Content-SHA256 header that does not match is refused.
func (s *Server) uploadBizpack(c echo.Context) error {
	name := c.Param("name")
	if !bizpackNamePattern.MatchString(name) {
		return problem(CodeBizpackNotFound, map[string]any{"bizpack": name}, "no bizpack %q is configured", name)
	}
	if s.bizpacks == nil {
		return noBizpackHost(name)
	}
	switch v := s.bizpackVersion(name); {
	case v == nil:
		return problem(CodeBizpackNotFound, map[string]any{"bizpack": name}, "no bizpack %q is running: only running bizpacks take new versions", name)
	case v.Status == "in-process":
		return problem(CodeBizpackNotFound, map[string]any{"bizpack": name},
			"bizpack %q runs inside the server, not as a plugin process: it takes no binary", name)
	}
	if s.uploads == "" {
		return problem(CodeBizpackUploadInvalid, nil, "this server keeps no uploaded binaries (start it with --bizpack-dir)")
	}
	r := c.Request()
	if mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); err != nil || !uploadMediaTypes[mt] {
		return problem(CodeUnsupportedMediaType, map[string]any{"contentType": r.Header.Get(echo.HeaderContentType)},
			"send the binary as application/octet-stream, or a bundle as application/gzip or application/zip")
	}
	want := strings.ToLower(r.Header.Get("X-Content-SHA256"))
	if want != "" && !sha256Pattern.MatchString(want) {
		return invalidField("X-Content-SHA256", "X-Content-SHA256 must be 64 hex digits")
	}
	tooLarge := problem(CodeBodyTooLarge, map[string]any{"limit": s.maxUpload}, "the binary is larger than %d bytes", s.maxUpload)
	if r.ContentLength > s.maxUpload {
		return tooLarge
	}
	dir := filepath.Join(s.uploads, name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), http.MaxBytesReader(c.Response().Writer, r.Body, s.maxUpload))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return tooLarge
	case err != nil:
		return &Problem{Code: CodeInvalidRequest, Detail: "the binary could not be read", Err: err}
	case n == 0:
		return problem(CodeBizpackUploadInvalid, nil, "the body is empty: send the bizpack binary")
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if want != "" && want != sum {
		return problem(CodeBizpackUploadInvalid, map[string]any{"sha256": sum},
			"the binary's SHA-256 is %s, not the %s the request announced: it was damaged on the way", sum, want)
	}
	if err := bizpackhost.CheckBundle(tmp.Name()); err != nil {
		return &Problem{Code: CodeBizpackUploadInvalid, Detail: err.Error(), Fields: map[string]any{"sha256": sum}, Err: err}
	}
	if err := os.Chmod(tmp.Name(), 0o750); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, sum)); err != nil {
		return err
	}
	s.audit(c, ActionBizpacksWrite, "upload", "bizpack", name, nil, BizpackUpload{Name: name, SHA256: sum, Size: n})
	return c.JSON(http.StatusCreated, BizpackUpload{Name: name, SHA256: sum, Size: n})
}

// uploadMediaTypes are the content types of an upload: a binary, or a
// bundle (an archive with bundle.json, its entry point and its files; see
// bizpackhost.BundleManifest), told apart by content, not by the type.
var uploadMediaTypes = map[string]bool{"application/octet-stream": true, "application/gzip": true,
	"application/x-gzip": true, "application/zip": true}

// uploadedBinary is the path of an uploaded binary of the bizpack.
func (s *Server) uploadedBinary(name, sum string) (string, error) {
	sum = strings.ToLower(sum)
	if s.uploads != "" && bizpackNamePattern.MatchString(name) {
		p := filepath.Join(s.uploads, name, sum)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", invalidField("sha256", "no uploaded binary of bizpack %s has SHA-256 %s: upload it first "+
		"(PUT /v1/admin/bizpacks/%s/binaries), or send its path on the server with the sha256", name, sum, name)
}
