package api

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/webhooks"
)

// Actions and audit target of the webhook endpoints (admins only: every
// "admin." action is).
const (
	ActionWebhooksRead  = "admin.webhooks.read"
	ActionWebhooksWrite = "admin.webhooks.write"
	auditWebhook        = webhooks.AuditTargetType
)

// Problem codes of the webhook endpoints.
const (
	// CodeWebhookInvalid: a field of an endpoint is refused (malformed or
	// refused URL, unknown event type or identity, short secret); the
	// problem's "field" names it.
	CodeWebhookInvalid         = "webhook_invalid"
	CodeWebhookNotFound        = "webhook_not_found"
	CodeWebhookDeliveryMissing = "webhook_delivery_not_found"
	CodeWebhookLimit           = "webhook_limit"
	CodeWebhookDisabled        = "webhook_disabled"
)

func init() {
	problemCodes[CodeWebhookInvalid] = codeInfo{http.StatusUnprocessableEntity, "Webhook endpoint invalid"}
	problemCodes[CodeWebhookNotFound] = codeInfo{http.StatusNotFound, "Webhook endpoint not found"}
	problemCodes[CodeWebhookDeliveryMissing] = codeInfo{http.StatusNotFound, "Webhook delivery not found"}
	problemCodes[CodeWebhookLimit] = codeInfo{http.StatusConflict, "Too many webhook endpoints"}
	problemCodes[CodeWebhookDisabled] = codeInfo{http.StatusConflict, "Webhook endpoint disabled"}
}

// registerWebhooks adds the webhook routes when the server delivers
// webhooks.
func (s *Server) registerWebhooks(add func(method, path string, h echo.HandlerFunc, a access)) {
	if s.webhooks == nil {
		return
	}
	add(http.MethodGet, "/v1/admin/webhooks", s.listWebhooks, function(ActionWebhooksRead))
	add(http.MethodPost, "/v1/admin/webhooks", s.createWebhook, function(ActionWebhooksWrite))
	add(http.MethodGet, "/v1/admin/webhooks/:id", s.getWebhook, function(ActionWebhooksRead))
	add(http.MethodPut, "/v1/admin/webhooks/:id", s.updateWebhook, function(ActionWebhooksWrite))
	add(http.MethodDelete, "/v1/admin/webhooks/:id", s.deleteWebhook, function(ActionWebhooksWrite))
	add(http.MethodPost, "/v1/admin/webhooks/:id/rotate-secret", s.rotateWebhookSecret, function(ActionWebhooksWrite))
	add(http.MethodGet, "/v1/admin/webhooks/:id/deliveries", s.listWebhookDeliveries, function(ActionWebhooksRead))
	add(http.MethodGet, "/v1/admin/webhooks/:id/attempts", s.listWebhookAttempts, function(ActionWebhooksRead))
	add(http.MethodPost, "/v1/admin/webhooks/:id/deliveries/:deliveryId/redeliver", s.redeliverWebhook, function(ActionWebhooksWrite))
}

// WebhookRequest creates or updates an endpoint. Secret is accepted on
// creation only (a generated one is better).
type WebhookRequest struct {
	URL         string   `json:"url"`
	Description string   `json:"description"`
	EventTypes  []string `json:"eventTypes"`
	Identities  []string `json:"identities"`
	Enabled     *bool    `json:"enabled"`
	Secret      string   `json:"secret"`
}

func (r WebhookRequest) spec() webhooks.EndpointSpec {
	enabled := r.Enabled == nil || *r.Enabled
	return webhooks.EndpointSpec{URL: r.URL, Description: r.Description, EventTypes: r.EventTypes, Identities: r.Identities,
		Enabled: enabled, Secret: r.Secret}
}

// WebhookCreated answers a creation: the endpoint and its secret, shown
// this once.
type WebhookCreated struct {
	webhooks.EndpointView
	Secret string `json:"secret"`
}

// WebhookSecret answers a rotation: the new secret, shown this once, and
// when the old one stops signing.
type WebhookSecret struct {
	Secret              string `json:"secret"`
	PreviousSecretUntil string `json:"previousSecretUntil"`
}

// WebhookList answers GET /v1/admin/webhooks.
type WebhookList struct {
	Items []webhooks.EndpointView `json:"items"`
}

// WebhookDeliveries answers GET …/deliveries.
type WebhookDeliveries struct {
	Items      []webhooks.DeliveryView `json:"items"`
	NextCursor string                  `json:"nextCursor,omitempty"`
}

// WebhookAttempts answers GET …/attempts: the delivery log.
type WebhookAttempts struct {
	Items      []webhooks.AttemptView `json:"items"`
	NextCursor string                 `json:"nextCursor,omitempty"`
}

// webhookProblem maps the service's errors to problems.
func webhookProblem(id string, err error) error {
	var fe *webhooks.FieldError
	switch {
	case errors.As(err, &fe):
		return problem(CodeWebhookInvalid, map[string]any{"field": fe.Field}, "%s: %s", fe.Field, fe.Reason)
	case errors.Is(err, webhooks.ErrLimit):
		return problem(CodeWebhookLimit, nil, "%s", err.Error())
	case errors.Is(err, webhooks.ErrNotRedeliverable):
		return problem(CodeWebhookDisabled, map[string]any{"id": id}, "webhook endpoint %s is disabled: enable it first", id)
	case errors.Is(err, webhooks.ErrCursor):
		return problem(CodeInvalidCursor, nil, "the cursor is not one this server gave out; start again without it")
	case errors.Is(err, webhooks.ErrNotFound):
		return problem(CodeWebhookNotFound, map[string]any{"id": id}, "webhook endpoint %s not found", id)
	}
	return err
}

func (s *Server) listWebhooks(c echo.Context) error {
	items, err := s.webhooks.List(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, WebhookList{Items: items})
}

func (s *Server) createWebhook(c echo.Context) error {
	var req WebhookRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	v, secret, err := s.webhooks.Create(c.Request().Context(), req.spec())
	if err != nil {
		return webhookProblem("", err)
	}
	// The audit entry holds the endpoint as GET shows it: never its secret.
	s.audit(c, ActionWebhooksWrite, "create", auditWebhook, v.ID, nil, v)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, WebhookCreated{EndpointView: v, Secret: secret})
}

func (s *Server) getWebhook(c echo.Context) error {
	v, err := s.webhooks.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return webhookProblem(c.Param("id"), err)
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) updateWebhook(c echo.Context) error {
	var req WebhookRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	id := c.Param("id")
	before, after, err := s.webhooks.Update(c.Request().Context(), id, req.spec())
	if err != nil {
		return webhookProblem(id, err)
	}
	s.audit(c, ActionWebhooksWrite, "update", auditWebhook, id, before, after)
	return c.JSON(http.StatusOK, after)
}

func (s *Server) deleteWebhook(c echo.Context) error {
	id := c.Param("id")
	before, err := s.webhooks.Delete(c.Request().Context(), id)
	if err != nil {
		return webhookProblem(id, err)
	}
	s.audit(c, ActionWebhooksWrite, "delete", auditWebhook, id, before, nil)
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) rotateWebhookSecret(c echo.Context) error {
	id := c.Param("id")
	secret, until, err := s.webhooks.RotateSecret(c.Request().Context(), id)
	if err != nil {
		return webhookProblem(id, err)
	}
	// Audited without the secret.
	s.audit(c, ActionWebhooksWrite, "rotate-secret", auditWebhook, id, nil, map[string]any{"previousSecretUntil": until})
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, WebhookSecret{Secret: secret, PreviousSecretUntil: until.UTC().Format("2006-01-02T15:04:05.999999Z07:00")})
}

func (s *Server) listWebhookDeliveries(c echo.Context) error {
	qp := c.QueryParams()
	limit, err := s.pageLimit(qp)
	if err != nil {
		return err
	}
	state := qp.Get("state")
	switch state {
	case "", webhooks.StatePending, webhooks.StateSucceeded, webhooks.StateFailed:
	default:
		return invalidField("state", "state is pending, succeeded or failed; got %q", state)
	}
	items, next, err := s.webhooks.Deliveries(c.Request().Context(), c.Param("id"), state, webhooks.Page{Cursor: qp.Get("cursor"), Limit: limit})
	if err != nil {
		return webhookProblem(c.Param("id"), err)
	}
	return c.JSON(http.StatusOK, WebhookDeliveries{Items: items, NextCursor: next})
}

func (s *Server) listWebhookAttempts(c echo.Context) error {
	qp := c.QueryParams()
	limit, err := s.pageLimit(qp)
	if err != nil {
		return err
	}
	items, next, err := s.webhooks.Attempts(c.Request().Context(), c.Param("id"), qp.Get("deliveryId"),
		webhooks.Page{Cursor: qp.Get("cursor"), Limit: limit})
	if err != nil {
		return webhookProblem(c.Param("id"), err)
	}
	return c.JSON(http.StatusOK, WebhookAttempts{Items: items, NextCursor: next})
}

func (s *Server) redeliverWebhook(c echo.Context) error {
	id, did := c.Param("id"), c.Param("deliveryId")
	v, err := s.webhooks.Redeliver(c.Request().Context(), id, did)
	if errors.Is(err, webhooks.ErrNotFound) {
		if _, gerr := s.webhooks.Get(c.Request().Context(), id); gerr == nil {
			return problem(CodeWebhookDeliveryMissing, map[string]any{"id": did}, "webhook endpoint %s has no delivery %s", id, did)
		}
	}
	if err != nil {
		return webhookProblem(id, err)
	}
	s.audit(c, ActionWebhooksWrite, "redeliver", auditWebhook, id, nil, map[string]any{"delivery": did, "eventId": v.EventID})
	return c.JSON(http.StatusAccepted, v)
}
