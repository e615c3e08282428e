package api

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/webhooks"
)

// EventType is one entry of the event catalogue as GET
// /v1/admin/events/types shows it.
type EventType struct {
	Name      string `json:"name"`
	Version   int    `json:"version"`
	Aggregate string `json:"aggregate"`
	// Webhooks: a webhook endpoint may subscribe to the type (every type
	// the outbox relays; not order.changed, which only CDC publishes).
	Webhooks bool `json:"webhooks"`
}

// EventTypeList answers GET /v1/admin/events/types.
type EventTypeList struct {
	Items []EventType `json:"items"`
}

// listEventTypes answers GET /v1/admin/events/types: the catalogue of
// platform/events, sorted by name. It reads no store, so it never fails.
func (s *Server) listEventTypes(c echo.Context) error {
	subscribable := webhooks.DefaultKnownTypes()
	out := EventTypeList{Items: []EventType{}}
	for _, t := range events.Types() {
		out.Items = append(out.Items, EventType{Name: t.Name, Version: t.Version, Aggregate: t.Aggregate,
			Webhooks: slices.Contains(subscribable, t.Name)})
	}
	return c.JSON(http.StatusOK, out)
}
