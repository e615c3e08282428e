package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/authz"
)

// PolicyStatus answers GET /v1/admin/policies and POST
// /v1/admin/policies/reload: the policy in force and the last failed load.
type PolicyStatus struct {
	// Source is the directory or bundle the policy loads from; "embedded"
	// for the shipped default.
	Source string `json:"source"`
	// Revision counts successful loads; Digest identifies the policy text.
	Revision int       `json:"revision"`
	Digest   string    `json:"digest"`
	LoadedAt time.Time `json:"loadedAt"`
	// LastError is why the last load failed (the policy in force stayed);
	// absent when the last load succeeded.
	LastError   string     `json:"lastError,omitempty"`
	LastErrorAt *time.Time `json:"lastErrorAt,omitempty"`
}

func policyStatus(st authz.Status) PolicyStatus {
	out := PolicyStatus{Source: st.Source, Revision: st.Revision, Digest: st.Digest, LoadedAt: st.LoadedAt.UTC(),
		LastError: st.LastError}
	if out.Source == "" {
		out.Source = "embedded"
	}
	if st.LastError != "" && !st.LastErrorAt.IsZero() {
		at := st.LastErrorAt.UTC()
		out.LastErrorAt = &at
	}
	return out
}

func (s *Server) policyStatus(c echo.Context) error {
	return c.JSON(http.StatusOK, policyStatus(s.policy.Status()))
}

// reloadPolicy recompiles the policy from its source. A policy that does
// not load is refused (422 policy_invalid, with the compiler's message) and
// the one in force stays.
//
// A successful reload is audited (target "policy", no id: there is one
// policy) with the status before and after, whose revision and digest say
// whether the text changed; a refused one is not.
func (s *Server) reloadPolicy(c echo.Context) error {
	before := policyStatus(s.policy.Status())
	if err := s.policy.Reload(c.Request().Context()); err != nil {
		return problem(CodePolicyInvalid, map[string]any{"error": err.Error()},
			"the policy did not load; the one in force stays: %v", err)
	}
	after := policyStatus(s.policy.Status())
	s.audit(c, ActionPoliciesWrite, "reload", auditPolicy, "", before, after)
	return c.JSON(http.StatusOK, after)
}
