package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/tmf-platform/tmf/platform/metrics/series"
)

// promqlNames extracts the metric names a PromQL expression reads: every
// identifier that is not a function or aggregation (followed by "("), an
// aggregation operator, a keyword, a number or duration, a label name
// inside {…} or in a by/without/on/ignoring/group_left/group_right list, a
// string, a range [..] or a Grafana variable ($x, ${x}).
func promqlNames(expr string) []string {
	aggregations := map[string]bool{"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true,
		"stdvar": true, "count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
		"limitk": true, "limit_ratio": true}
	keywords := map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true,
		"nan": true, "atan2": true}
	labelLists := map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
	isStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isPart := func(c byte) bool { return isStart(c) || c >= '0' && c <= '9' }
	// skipString returns the index just after the string opened at i.
	skipString := func(i int) int {
		q := expr[i]
		for i++; i < len(expr) && expr[i] != q; i++ {
			if expr[i] == '\\' && q != '`' {
				i++
			}
		}
		return i + 1
	}
	// skipTo returns the index just after the close that ends the group
	// opened at i, stepping over strings.
	skipTo := func(i int, open, close byte) int {
		depth := 0
		for i < len(expr) {
			switch c := expr[i]; c {
			case '"', '\'', '`':
				i = skipString(i)
				continue
			case open:
				depth++
			case close:
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(expr)
	}
	var out []string
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(i)
		case c == '{':
			i = skipTo(i, '{', '}')
		case c == '[':
			i = skipTo(i, '[', ']')
		case c == '$':
			i++
			if i < len(expr) && expr[i] == '{' {
				i = skipTo(i, '{', '}')
				continue
			}
			for i < len(expr) && isPart(expr[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isPart(expr[i]) || expr[i] == '.') {
				i++
			}
		case isStart(c):
			j := i
			for j < len(expr) && isPart(expr[j]) {
				j++
			}
			word := expr[i:j]
			k := j
			for k < len(expr) && (expr[k] == ' ' || expr[k] == '\n' || expr[k] == '\t') {
				k++
			}
			switch {
			case labelLists[strings.ToLower(word)] && k < len(expr) && expr[k] == '(':
				j = skipTo(k, '(', ')')
			case k < len(expr) && expr[k] == '(', aggregations[strings.ToLower(word)], keywords[strings.ToLower(word)]:
			default:
				out = append(out, word)
			}
			i = j
		default:
			i++
		}
	}
	return out
}

func TestPromQLNames(t *testing.T) {
	cases := []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`rate(tmf_api_requests_total{status=~"5..", route!="/v1/x{y}"}[5m])`, []string{"tmf_api_requests_total"}},
		{`sum by (code) (rate(tmf_api_problems_total[$__rate_interval])) * 60`, []string{"tmf_api_problems_total"}},
		{`sum(rate(a_total[5m])) without (instance, job) / on(job) group_left(region) b`, []string{"a_total", "b"}},
		{`histogram_quantile(0.99, sum by (le) (rate(x_seconds_bucket{le!="+Inf"}[5m]))) > 1`, []string{"x_seconds_bucket"}},
		{`max(a) == 0 or (time() - max(b)) > 7200 and c offset 5m unless d bool`, []string{"a", "b", "c", "d"}},
		{`label_replace(m, "dst", "$1", "src", "(.*)")`, []string{"m"}},
		{`topk(3, sum by (le, route) (m:recorded:rate5m))`, []string{"m:recorded:rate5m"}},
		{`count_values("v", build_info) + 1e3 + 0x1F + Inf`, []string{"build_info"}},
		{`sum ( rate ( spaced_total [ 1m ] ) ) by ( a )`, []string{"spaced_total"}},
		{`${DS} + $var + real`, []string{"real"}},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			if got := promqlNames(c.expr); !slices.Equal(got, c.want) {
				t.Fatalf("promqlNames(%q) = %q, want %q", c.expr, got, c.want)
			}
		})
	}
}

// alertRules is the shape of a Prometheus rule file, decoded strictly.
type alertRules struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// grafanaDashboard is what the check reads of the dashboard JSON.
type grafanaDashboard struct {
	Title  string `json:"title"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// The operations team's files in docs/monitoring read only metrics the
// server registers: a server is started, its registry's names gathered
// (every collector's descriptions, not a scrape, where a labelled metric
// without series is absent), and every metric name of every alert
// expression and dashboard query must be one of them (a histogram's
// _bucket, _sum and _count included). The standard dashboard panels'
// metrics too. The alert file has the rule-file shape.
func TestMonitoringFilesUseRealMetrics(t *testing.T) {
	dir := t.TempDir()
	reg := newMetricsRegistry()
	runServe(t, serveOptions{DB: filepath.Join(dir, "tmf.db"), AdminToken: testAdminToken, registry: reg})
	registered := map[string]bool{}
	for _, n := range reg.Names() {
		registered[n] = true
	}
	known := func(name string) bool {
		if registered[name] {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && registered[base] {
				return true
			}
		}
		return false
	}
	for _, n := range series.MetricNames() {
		if !registered[n] {
			t.Errorf("the dashboard panels read %s, which the server does not register", n)
		}
	}
	check := func(where, expr string) {
		names := promqlNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, n := range names {
			if !known(n) {
				t.Errorf("%s: %q reads %s, which the server does not register", where, expr, n)
			}
		}
	}

	raw, err := os.ReadFile("../../docs/monitoring/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	var rules alertRules
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("alerts.yaml is not a rule file: %v", err)
	}
	var alerts []string
	for _, g := range rules.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: a name and rules are required", g.Name)
		}
		for _, r := range g.Rules {
			where := "alerts.yaml " + r.Alert
			alerts = append(alerts, r.Alert)
			if !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(r.Alert) {
				t.Errorf("%s: alert name %q", where, r.Alert)
			}
			if _, err := time.ParseDuration(r.For); err != nil {
				t.Errorf("%s: for %q: %v", where, r.For, err)
			}
			if !slices.Contains([]string{"warning", "critical"}, r.Labels["severity"]) {
				t.Errorf("%s: labels.severity %q", where, r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", where, a)
				}
			}
			check(where, r.Expr)
		}
	}
	// The alerts issue 20 asks for.
	for _, want := range []string{"TMFEventBacklogGrowing", "TMFRefundsFailed", "TMFReconciliationMismatches",
		"TMFBizpackBreakerOpen", "TMFAPIServerErrors"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alerts.yaml has no %s", want)
		}
	}

	raw, err = os.ReadFile("../../docs/monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash grafanaDashboard
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if len(dash.Panels) < len(series.Panels)-1 {
		t.Errorf("the Grafana dashboard has %d panels; the console's has %d", len(dash.Panels), len(series.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			check("grafana-dashboard.json "+p.Title, q.Expr)
		}
	}
}
