package api

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// A failing Config.ReadyChecks entry (an outbox backlog above its limit)
// makes /readyz 503 not_ready, as the default check does.
func TestReadyChecksFailReadiness(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	var failing atomic.Bool
	s := New(Config{Service: &order.Service{}, Store: st, Node: "node-b", ReadyChecks: []func(context.Context) error{
		func(context.Context) error {
			if failing.Load() {
				return errors.New("outbox backlog too old")
			}
			return nil
		}}})
	ready := func() (int, string) {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code, w.Body.String()
	}
	if code, body := ready(); code != 200 {
		t.Fatalf("passing checks: %d %s", code, body)
	}
	failing.Store(true)
	if code, body := ready(); code != 503 || !strings.Contains(body, `"code":"not_ready"`) || strings.Contains(body, "backlog") {
		t.Fatalf("failing check: %d %s; want 503 not_ready without the cause", code, body)
	}
}
