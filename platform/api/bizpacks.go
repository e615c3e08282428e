package api

import (
	"bytes"
	"net/http"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"

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
	// or "in-process".
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
	Standby string             `json:"standby,omitempty"`
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
}

// BizpackReloadRequest is the optional body of
// POST /v1/admin/bizpacks/{name}/reload: a new binary and its SHA-256, both
// or neither. Without them the configured binary is started again.
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
		Pid: st.Pid, RoundTrips: st.RoundTrips, LastError: st.LastError, Standby: st.Standby,
		Points: make([]PointLatencyView, 0, len(st.Points))}
	if !st.Since.IsZero() {
		v.Since = st.Since.UTC()
	}
	for _, p := range st.Points {
		v.Points = append(v.Points, PointLatencyView{Point: p.Point, Calls: p.Calls, Failures: p.Failures,
			P50Micros: micros(p.P50), P99Micros: micros(p.P99)})
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
	version, err := s.bizpacks.Reload(c.Request().Context(), name, req.Path, req.SHA256)
	if err != nil {
		return bizpackProblem(name, err)
	}
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
	case req.Path == "" && req.SHA256 != "":
		return req, invalidField("path", "path and sha256 go together: send the new binary's path with its checksum")
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
	version, err := s.bizpacks.Rollback(name)
	if err != nil {
		return bizpackProblem(name, err)
	}
	return c.JSON(http.StatusOK, BizpackVersion{Name: name, Version: version})
}
