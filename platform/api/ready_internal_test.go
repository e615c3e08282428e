package api

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// /readyz is 503 not_ready while the database refuses writes, although it
// still answers reads (a ping would pass), and ready again once it takes
// them. SQLite's query_only mode on the store's one connection stands for
// a read-only file system, which root (the tests' user) cannot make.
func TestReadyWhileTheDatabaseTakesWrites(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	s := New(Config{Service: &order.Service{}, Store: st, Node: "node-a"})
	ready := func() (int, string) {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code, w.Body.String()
	}
	if code, body := ready(); code != 200 {
		t.Fatalf("healthy: %d %s", code, body)
	}
	db := st.DB(t.Context())
	if err := db.Exec("PRAGMA query_only = 1").Error; err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(t.Context()); err != nil {
		t.Fatalf("ping of a read-only database: %v (the probe must not be a ping)", err)
	}
	if code, body := ready(); code != 503 || !strings.Contains(body, `"code":"not_ready"`) {
		t.Fatalf("read-only: %d %s; want 503 not_ready", code, body)
	}
	if err := db.Exec("PRAGMA query_only = 0").Error; err != nil {
		t.Fatal(err)
	}
	if code, body := ready(); code != 200 {
		t.Fatalf("writable again: %d %s", code, body)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if code, body := ready(); code != 503 {
		t.Fatalf("closed: %d %s; want 503", code, body)
	}
}
