package api

import (
	"net/http"
	"net/http/pprof"
	runtimepprof "runtime/pprof"

	"github.com/labstack/echo/v4"
)

// ActionProfile is reading the server's runtime profiles (net/http/pprof):
// under "admin.", so the policy gives it to admins only.
const ActionProfile = "admin.pprof.read"

// ProfilingHandler serves net/http/pprof under /debug/pprof/ to a caller
// whose bearer token the policy lets read profiles (admins), exactly as an
// admin endpoint checks it: 401 problem without a valid token, 403 for
// another principal. It is meant for a listener of its own (tmfd serve
// --pprof-listen), never the public one: a profile shows what the server
// runs and a CPU profile costs the server while it is taken.
func (s *Server) ProfilingHandler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.echo.HTTPErrorHandler
	e.Use(recoverer)
	guard := s.guard(function(ActionProfile))
	serve := func(h http.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h(c.Response(), c.Request())
			return nil
		}
	}
	e.GET("/debug/pprof/", serve(pprof.Index), guard)
	e.GET("/debug/pprof/cmdline", serve(pprof.Cmdline), guard)
	e.GET("/debug/pprof/profile", serve(pprof.Profile), guard)
	e.GET("/debug/pprof/symbol", serve(pprof.Symbol), guard)
	e.POST("/debug/pprof/symbol", serve(pprof.Symbol), guard)
	e.GET("/debug/pprof/trace", serve(pprof.Trace), guard)
	e.GET("/debug/pprof/:name", func(c echo.Context) error {
		name := c.Param("name")
		if runtimepprof.Lookup(name) == nil {
			return problem(CodeNotFound, map[string]any{"profile": name}, "no such profile")
		}
		pprof.Handler(name).ServeHTTP(c.Response(), c.Request())
		return nil
	}, guard)
	return e
}
