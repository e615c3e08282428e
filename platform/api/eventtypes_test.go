package api_test

import (
	"testing"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// GET /v1/admin/events/types lists the whole catalogue, sorted, and says
// which types a webhook endpoint may subscribe to.
func TestEventTypes(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	r := e.do("GET", "/v1/admin/events/types", adminToken, nil)
	expect(t, r, 200, "")
	got := decodeJSON[api.EventTypeList](t, r)
	if len(got.Items) != len(events.Types()) {
		t.Fatalf("got %d types, the catalogue has %d", len(got.Items), len(events.Types()))
	}
	byName := map[string]api.EventType{}
	for i, it := range got.Items {
		if i > 0 && got.Items[i-1].Name >= it.Name {
			t.Fatalf("not sorted by name: %q before %q", got.Items[i-1].Name, it.Name)
		}
		byName[it.Name] = it
	}
	for _, tc := range []struct {
		name      string
		aggregate string
		webhooks  bool
	}{
		{events.OrderPlaced, events.AggregateOrder, true},
		{events.StockLow, events.AggregateStock, true},
		{events.OrderChanged, events.AggregateOrder, false}, // CDC only: not relayed to webhooks
	} {
		it, ok := byName[tc.name]
		if !ok || it.Aggregate != tc.aggregate || it.Webhooks != tc.webhooks || it.Version < 1 {
			t.Errorf("%s: got %+v (listed %v); want aggregate %s, webhooks %v", tc.name, it, ok, tc.aggregate, tc.webhooks)
		}
	}
	expect(t, e.do("GET", "/v1/admin/events/types", "", nil), 401, "unauthenticated")
}
