package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// readyTimeout bounds one readiness check.
const readyTimeout = 5 * time.Second

type statusBody struct {
	Status string `json:"status"`
}

// healthz answers 200 while the process serves HTTP.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, statusBody{"ok"})
}

// readyz answers 200 when Config.Ready and every Config.ReadyChecks do,
// 503 not_ready otherwise (the cause is logged, not shown).
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	for _, check := range append([]func(context.Context) error{s.ready}, s.readyChecks...) {
		if err := check(ctx); err != nil {
			return &Problem{Code: CodeNotReady, Detail: "the server is not ready to take requests", Err: err}
		}
	}
	return c.JSON(http.StatusOK, statusBody{"ready"})
}

// metricsPage serves the Gatherer in the Prometheus text format.
func (s *Server) metricsPage(c echo.Context) error {
	s.metricsHandler.ServeHTTP(c.Response(), c.Request())
	return nil
}
