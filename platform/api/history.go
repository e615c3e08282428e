package api

import (
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"
)

// HistoryView answers GET /v1/orders/{id}/history: the order's lifecycle
// steps, oldest first.
type HistoryView struct {
	OrderID string         `json:"orderId"`
	Items   []HistoryEntry `json:"items"`
}

// HistoryEntry is one lifecycle step: the event, the states it moved the
// order between, the version it made, who fired it and why.
type HistoryEntry struct {
	Version int64     `json:"version"`
	Event   string    `json:"event"`
	From    string    `json:"from,omitempty"`
	To      string    `json:"to"`
	Actor   string    `json:"actor,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// actorRole is how a step's actor shows to a buyer: the actor's role (an
// operator, an agent), never a staff member's principal id; "platform" for
// steps the platform took (timeouts, recovery) or actors no longer known.
func (s *Server) actorRole(c echo.Context, actor string) string {
	sp, err := s.store.GetPrincipal(c.Request().Context(), actor)
	if err != nil {
		return "platform"
	}
	roles := splitList(sp.Roles)
	for _, r := range []string{RoleAdmin, RoleOperator, RoleAgent, RoleBuyer} {
		if slices.Contains(roles, r) {
			return r
		}
	}
	return "platform"
}

// getHistory answers the lifecycle steps of an order the caller may read.
func (s *Server) getHistory(c echo.Context) error {
	v, err := s.orderFor(c, ActionOrderRead, "")
	if err != nil {
		return err
	}
	steps, err := s.store.OrderHistory(c.Request().Context(), v.ID)
	if err != nil {
		return err
	}
	out := HistoryView{OrderID: v.ID, Items: make([]HistoryEntry, 0, len(steps))}
	p := principalOf(c)
	shown := map[string]string{}
	for _, h := range steps {
		actor := h.Actor
		if !isStaff(p) && actor != p.ID && actor != v.BuyerID {
			if _, ok := shown[actor]; !ok {
				shown[actor] = s.actorRole(c, actor)
			}
			actor = shown[actor]
		}
		out.Items = append(out.Items, HistoryEntry{Version: h.Version, Event: h.Event, From: h.FromState, To: h.ToState,
			Actor: actor, Reason: h.Reason, At: h.CreatedAt.UTC()})
	}
	return c.JSON(http.StatusOK, out)
}
