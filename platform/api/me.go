package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/authz"
)

// Me answers GET /v1/me: who the caller is, and which function-level
// actions the policy allows it, so that a client (the admin console) shows
// only what it may use. The server still decides every request.
type Me struct {
	ID         string          `json:"id"`
	Roles      []string        `json:"roles"`
	Org        string          `json:"org,omitempty"`
	OrgPath    string          `json:"orgPath,omitempty"`
	Identities []string        `json:"identities"`
	Can        map[string]bool `json:"can"`
}

// meActions are the function-level actions GET /v1/me reports on.
var meActions = []string{ActionIdentityList, ActionIdentityCreate, ActionExtensionsRead, ActionOrderList, ActionOrderPlace,
	ActionBizpacksRead, ActionBizpacksWrite, ActionAuditRead, ActionOrgsRead, ActionOrgsWrite, ActionPrincipalsRead,
	ActionPrincipalsWrite, ActionPoliciesRead, ActionWebhooksRead, ActionWebhooksWrite,
	ActionReconcileRead, ActionReconcileRun, ActionReconcileResolve, ActionPaymentsRead, ActionPaymentsRetry, ActionEventsRead,
	ActionDashboardRead, ActionFulfilmentRead, ActionFulfilmentResolve}

func (s *Server) me(c echo.Context) error {
	p := principalOf(c)
	out := Me{ID: p.ID, Roles: nonNil(p.Roles), Org: p.Org, OrgPath: p.OrgPath, Identities: nonNil(p.Identities), Can: map[string]bool{}}
	for _, a := range meActions {
		d, err := s.decide(c, authz.Input{Principal: p.subject(), Action: a})
		out.Can[a] = err == nil && d.Allow
	}
	return c.JSON(http.StatusOK, out)
}
