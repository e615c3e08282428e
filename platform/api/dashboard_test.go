package api_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/metrics/series"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// withDashboard gives the server a dashboard over its own registry, with a
// clock the test moves.
func withDashboard(out **series.Sampler, now func() time.Time) func(*api.Config) {
	return func(cfg *api.Config) {
		s := series.NewSampler(series.Options{Gatherer: cfg.Gatherer, Now: now})
		cfg.Dashboard = s
		*out = s
	}
}

// The dashboard answers this node's series: a refusal the API gave shows in
// the refusals panel after the next sample; bad parameters are problems;
// every documented status is answered (and checked against the spec).
func TestDashboard(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	var s *series.Sampler
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	e := newEnv(t, st, withDashboard(&s, func() time.Time { return at }))
	alice := e.principal("alice", "buyer")
	if err := s.Sample(t.Context()); err != nil {
		t.Fatal(err)
	}
	at = at.Add(10 * time.Second)
	for range 3 {
		expect(t, e.do("GET", "/v1/skus/no-such", alice, ""), 404, "sku_not_found")
	}
	if err := s.Sample(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/v1/admin/dashboard?range=15m", adminToken, "")
	expect(t, r, 200, "")
	got := decodeJSON[struct {
		Node       string      `json:"node"`
		Step       string      `json:"step"`
		Timestamps []time.Time `json:"timestamps"`
		Panels     []struct {
			ID     string `json:"id"`
			Series []struct {
				Name   string     `json:"name"`
				Values []*float64 `json:"values"`
			} `json:"series"`
		} `json:"panels"`
	}](t, r)
	if got.Step != "10s" || len(got.Timestamps) != 2 || len(got.Panels) != len(series.Panels) {
		t.Fatalf("answer: step %s, %d timestamps, %d panels", got.Step, len(got.Timestamps), len(got.Panels))
	}
	var refusals []string
	for _, p := range got.Panels {
		if p.ID != series.PanelRefusals {
			continue
		}
		for _, sr := range p.Series {
			last := sr.Values[len(sr.Values)-1]
			if last != nil {
				refusals = append(refusals, sr.Name+"="+strconv.FormatFloat(*last, 'f', -1, 64))
			}
		}
	}
	// 3 in 10 s = 18 a minute; the set-up's own answers may add codes.
	if !slices.Contains(refusals, "sku_not_found=18") {
		t.Fatalf("refusals panel %v; want sku_not_found=18", refusals)
	}
	if r := e.do("GET", "/v1/admin/dashboard", adminToken, ""); !strings.Contains(r.String(), `"step":"10s"`) {
		t.Fatalf("default: %s", r)
	}
	expect(t, e.do("GET", "/v1/admin/dashboard?range=24h", adminToken, ""), 200, "")
	for _, q := range []string{"range=2h", "range=6h&step=10s", "step=5s", "since=1h"} {
		expect(t, e.do("GET", "/v1/admin/dashboard?"+q, adminToken, ""), 400, api.CodeInvalidRequest)
	}
	expect(t, e.do("GET", "/v1/admin/dashboard", "", ""), 401, "")
	expect(t, e.do("GET", "/v1/admin/dashboard", alice, ""), 403, "")
	// A server without a dashboard says so.
	off := newEnv(t, storetest.Open(t, "sqlite"))
	off.seen = e.seen
	expect(t, off.do("GET", "/v1/admin/dashboard", adminToken, ""), 503, api.CodeDashboardDisabled)
	e.assertCovered(t, "/v1/admin/dashboard")
}

// assertCovered fails unless every status the spec documents for path
// (500 and 429 aside) was answered in e.
func (e *env) assertCovered(t *testing.T, path string) {
	t.Helper()
	s, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	item := s.model.Paths.PathItems.GetOrZero(path)
	if item == nil {
		t.Fatalf("docs/openapi.yaml has no %s", path)
	}
	for method, op := range item.GetOperations().FromOldest() {
		name := strings.ToUpper(method) + " " + path
		for code := range op.Responses.Codes.FromOldest() {
			status, _ := strconv.Atoi(code)
			if status != 500 && status != 429 && !e.seen.seen[name][status] {
				t.Errorf("%s: documented status %d was never answered", name, status)
			}
		}
	}
}
