package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/metrics/series"
)

// ActionDashboardRead reads the dashboard's series.
const ActionDashboardRead = "admin.dashboard.read"

// CodeDashboardDisabled: the server keeps no series (Config.Dashboard nil).
const CodeDashboardDisabled = "dashboard_disabled"

func init() {
	problemCodes[CodeDashboardDisabled] = codeInfo{http.StatusServiceUnavailable, "Dashboard disabled"}
}

// Dashboard is the server's own time-series (a *series.Sampler's store).
type Dashboard interface {
	ParseQuery(rangeText, stepText string) (span, step time.Duration, err error)
	Query(span, step time.Duration) series.Window
}

// DashboardAnswer is the body of GET /v1/admin/dashboard: the series of
// this node (each node keeps its own; Prometheus is the cross-node view).
type DashboardAnswer struct {
	Node string `json:"node"`
	series.Window
}

// registerDashboard adds GET /v1/admin/dashboard.
func (s *Server) registerDashboard(add func(method, path string, h echo.HandlerFunc, a access)) {
	add(http.MethodGet, "/v1/admin/dashboard", s.getDashboard, function(ActionDashboardRead))
}

func (s *Server) getDashboard(c echo.Context) error {
	if s.dashboard == nil {
		return &Problem{Code: CodeDashboardDisabled, Detail: "this server keeps no dashboard series"}
	}
	q := c.QueryParams()
	for name := range q {
		if name != "range" && name != "step" {
			return problem(CodeInvalidRequest, map[string]any{"param": name}, "unknown query parameter %q: range and step are known", name)
		}
	}
	span, step, err := s.dashboard.ParseQuery(q.Get("range"), q.Get("step"))
	var qe *series.QueryError
	if errors.As(err, &qe) {
		return problem(CodeInvalidRequest, map[string]any{"param": qe.Param}, "%s", qe.Error())
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, DashboardAnswer{Node: s.node, Window: s.dashboard.Query(span, step)})
}

// newProblemsCounter counts the problems the API answers, by code: the
// refusals (4xx) and failures (5xx) of the dashboard and of alerts. The
// codes are the API's own table; anything else is "other".
func newProblemsCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tmf_api_problems_total",
		Help: "Problems (RFC 9457 answers) the API gave, by problem code."}, []string{"code"})
}

func (m *metrics) countProblem(code string) {
	if _, ok := problemCodes[code]; !ok {
		code = "other"
	}
	m.problems.WithLabelValues(code).Inc()
}
