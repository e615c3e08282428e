package series

import (
	"math"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Metric names the standard panels read. Each is registered by the server
// (a test in cmd/tmfd checks them against its registry).
const (
	MetricOrdersPlaced    = "tmf_orders_placed_total"
	MetricOrdersPaid      = "tmf_orders_paid_total"
	MetricOrderValue      = "tmf_order_value_placed_total"
	MetricProblems        = "tmf_api_problems_total"
	MetricAPIDuration     = "tmf_api_request_duration_seconds"
	MetricExtDuration     = "tmf_extension_call_duration_seconds"
	MetricExtCalls        = "tmf_extension_calls_total"
	MetricOutboxBacklog   = "tmf_outbox_backlog_events"
	MetricWebhookPending  = "tmf_webhook_deliveries_pending"
	MetricWebhookAttempts = "tmf_webhook_attempts_total"
	MetricBreakerOpen     = "tmf_bizpack_breaker_open"
)

// Panel ids of the standard panels.
const (
	PanelOrdersPlaced    = "orders_placed"
	PanelOrdersPaid      = "orders_paid"
	PanelOrderValue      = "order_value"
	PanelRefusals        = "refusals"
	PanelAPIP50          = "api_p50"
	PanelAPIP99          = "api_p99"
	PanelExtP99          = "extension_p99"
	PanelExtFailures     = "extension_failures"
	PanelEventBacklog    = "event_backlog"
	PanelWebhookFailures = "webhook_failures"
	PanelBreakers        = "breakers_open"
	PanelStockLow        = "stock_low"
)

// Panels are the standard panels, in the order the console shows them.
var Panels = []Panel{
	{PanelOrdersPlaced, "Placed orders per minute", "orders/min", "rate of " + MetricOrdersPlaced + " by identity (biz_code)"},
	{PanelOrdersPaid, "Paid orders per minute", "orders/min", "rate of " + MetricOrdersPaid + " by identity"},
	{PanelOrderValue, "Gross order value placed per minute", "minor units/min",
		"rate of " + MetricOrderValue + " by identity and currency, in the currency's minor units"},
	{PanelRefusals, "Refusals per minute by problem code", "answers/min", "rate of " + MetricProblems + " by code"},
	{PanelAPIP50, "API latency p50 by route", "ms", "median of " + MetricAPIDuration + " over each step, by method and route"},
	{PanelAPIP99, "API latency p99 by route", "ms", "99th percentile of " + MetricAPIDuration + " over each step"},
	{PanelExtP99, "Extension latency p99 by implementation", "ms",
		"99th percentile of " + MetricExtDuration + " by point, implementation and source (product or bizpack)"},
	{PanelExtFailures, "Extension failure rate by implementation", "%",
		"share of " + MetricExtCalls + " with outcome error, panic or timeout, by point, implementation and source"},
	{PanelEventBacklog, "Event backlog", "events", MetricOutboxBacklog + " (outbox) and " + MetricWebhookPending + " (webhooks)"},
	{PanelWebhookFailures, "Webhook failures per minute", "attempts/min",
		"rate of " + MetricWebhookAttempts + " with outcome retry or failed"},
	{PanelBreakers, "Bizpack circuit breakers open", "open", MetricBreakerOpen + " by bizpack (1 open or half-open, 0 closed)"},
	{PanelStockLow, "Lowest sellable stock (low or out)", "units",
		"sellable units of the SKUs under the low-stock threshold, lowest first, from the stock tables"},
}

// MetricNames lists every metric the standard panels read.
func MetricNames() []string {
	return []string{MetricOrdersPlaced, MetricOrdersPaid, MetricOrderValue, MetricProblems, MetricAPIDuration,
		MetricExtDuration, MetricExtCalls, MetricOutboxBacklog, MetricWebhookPending, MetricWebhookAttempts, MetricBreakerOpen}
}

// child is one labelled series of a gathered family.
type child struct {
	labels map[string]string
	value  float64   // counter or gauge
	bounds []float64 // histogram upper bounds (+Inf last)
	counts []float64 // cumulative counts per bound
}

// snapshot is one gather: family → label key → child.
type snapshot struct {
	at       time.Time
	families map[string]map[string]child
}

func takeSnapshot(at time.Time, mfs []*dto.MetricFamily, want map[string]bool) *snapshot {
	s := &snapshot{at: at, families: map[string]map[string]child{}}
	for _, mf := range mfs {
		if !want[mf.GetName()] {
			continue
		}
		children := map[string]child{}
		for _, m := range mf.GetMetric() {
			c := child{labels: map[string]string{}}
			var key strings.Builder
			for _, lp := range m.GetLabel() {
				c.labels[lp.GetName()] = lp.GetValue()
				key.WriteString(lp.GetName() + "=" + lp.GetValue() + "\x00")
			}
			switch {
			case m.Counter != nil:
				c.value = m.Counter.GetValue()
			case m.Gauge != nil:
				c.value = m.Gauge.GetValue()
			case m.Untyped != nil:
				c.value = m.Untyped.GetValue()
			case m.Histogram != nil:
				for _, b := range m.Histogram.GetBucket() {
					c.bounds = append(c.bounds, b.GetUpperBound())
					c.counts = append(c.counts, float64(b.GetCumulativeCount()))
				}
				if len(c.bounds) == 0 || !math.IsInf(c.bounds[len(c.bounds)-1], 1) {
					c.bounds = append(c.bounds, math.Inf(1))
					c.counts = append(c.counts, float64(m.Histogram.GetSampleCount()))
				}
			}
			children[key.String()] = c
		}
		s.families[mf.GetName()] = children
	}
	return s
}

// group is the labels of a child kept by a "by" list, and its key.
func group(labels map[string]string, by []string) (string, map[string]string) {
	out := make(map[string]string, len(by))
	var key strings.Builder
	for _, n := range by {
		out[n] = labels[n]
		key.WriteString(labels[n] + "\x00")
	}
	return key.String(), out
}

// counterDeltas sums, per group of by, how much the family's counters grew
// from prev to cur. A child absent from prev started at 0 (it was made
// after); one that went down was reset and counts from 0.
func counterDeltas(prev, cur *snapshot, family string, by []string, keep func(map[string]string) bool) map[string]*agg {
	out := map[string]*agg{}
	for k, c := range cur.families[family] {
		if keep != nil && !keep(c.labels) {
			continue
		}
		d := c.value
		if p, ok := prev.families[family][k]; ok && p.value <= c.value {
			d = c.value - p.value
		}
		gk, gl := group(c.labels, by)
		a := out[gk]
		if a == nil {
			a = &agg{labels: gl}
			out[gk] = a
		}
		a.sum += d
	}
	return out
}

type agg struct {
	labels map[string]string
	sum    float64
	bounds []float64
	counts []float64
}

// histogramDeltas sums the bucket deltas of the family per group.
func histogramDeltas(prev, cur *snapshot, family string, by []string) map[string]*agg {
	out := map[string]*agg{}
	for k, c := range cur.families[family] {
		counts := slices.Clone(c.counts)
		if p, ok := prev.families[family][k]; ok && slices.Equal(p.bounds, c.bounds) && p.counts[len(p.counts)-1] <= c.counts[len(c.counts)-1] {
			for i := range counts {
				counts[i] -= p.counts[i]
			}
		}
		gk, gl := group(c.labels, by)
		a := out[gk]
		if a == nil {
			a = &agg{labels: gl, bounds: c.bounds, counts: make([]float64, len(c.bounds))}
			out[gk] = a
		}
		if !slices.Equal(a.bounds, c.bounds) {
			continue // children of one family share their buckets; never mix others
		}
		for i := range counts {
			a.counts[i] += counts[i]
		}
	}
	return out
}

// Quantile estimates the q-quantile from cumulative bucket counts by
// linear interpolation inside the bucket the rank falls in, as PromQL's
// histogram_quantile does: NaN without observations; the highest finite
// bound when the rank falls in the +Inf bucket.
func Quantile(q float64, bounds, cumulative []float64) float64 {
	if len(bounds) == 0 || len(bounds) != len(cumulative) {
		return math.NaN()
	}
	total := cumulative[len(cumulative)-1]
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	i := 0
	for i < len(cumulative)-1 && cumulative[i] < rank {
		i++
	}
	if math.IsInf(bounds[i], 1) {
		if i == 0 {
			return math.NaN()
		}
		return bounds[i-1]
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = bounds[i-1], cumulative[i-1]
	}
	inBucket := cumulative[i] - below
	if inBucket <= 0 {
		return bounds[i]
	}
	return lower + (bounds[i]-lower)*(rank-below)/inBucket
}

// derive computes the standard panels' points from two snapshots taken
// dt apart; with prev nil only the gauges have points.
func derive(prev, cur *snapshot) []Point {
	var out []Point
	gauges := func(panel, family string, by []string, name map[string]string) {
		sums := map[string]*agg{}
		for _, c := range cur.families[family] {
			gk, gl := group(c.labels, by)
			if sums[gk] == nil {
				sums[gk] = &agg{labels: gl}
			}
			sums[gk].sum += c.value
		}
		for _, a := range sums {
			labels := a.labels
			for k, v := range name {
				labels[k] = v
			}
			out = append(out, Point{Panel: panel, Labels: labels, Value: a.sum, Weight: a.sum})
		}
	}
	gauges(PanelEventBacklog, MetricOutboxBacklog, nil, map[string]string{"queue": "outbox"})
	gauges(PanelEventBacklog, MetricWebhookPending, nil, map[string]string{"queue": "webhooks"})
	gauges(PanelBreakers, MetricBreakerOpen, []string{"bizpack"}, nil)
	if prev == nil {
		return out
	}
	dt := cur.at.Sub(prev.at).Minutes()
	if dt <= 0 {
		return out
	}
	perMinute := func(panel, family string, by []string, keep func(map[string]string) bool) {
		for _, a := range counterDeltas(prev, cur, family, by, keep) {
			v := a.sum / dt
			out = append(out, Point{Panel: panel, Labels: a.labels, Value: v, Weight: v})
		}
	}
	perMinute(PanelOrdersPlaced, MetricOrdersPlaced, []string{"biz_code"}, nil)
	perMinute(PanelOrdersPaid, MetricOrdersPaid, []string{"biz_code"}, nil)
	perMinute(PanelOrderValue, MetricOrderValue, []string{"biz_code", "currency"}, nil)
	perMinute(PanelRefusals, MetricProblems, []string{"code"}, nil)
	perMinute(PanelWebhookFailures, MetricWebhookAttempts, []string{"outcome"},
		func(l map[string]string) bool { return l["outcome"] != "succeeded" })

	quantiles := func(family string, by []string, qs map[string]float64) {
		for _, a := range histogramDeltas(prev, cur, family, by) {
			n := a.counts[len(a.counts)-1]
			if n <= 0 {
				continue
			}
			for panel, q := range qs {
				out = append(out, Point{Panel: panel, Labels: a.labels, Value: Quantile(q, a.bounds, a.counts) * 1000, Weight: n})
			}
		}
	}
	quantiles(MetricAPIDuration, []string{"method", "route"}, map[string]float64{PanelAPIP50: .5, PanelAPIP99: .99})
	quantiles(MetricExtDuration, []string{"point", "impl", "source"}, map[string]float64{PanelExtP99: .99})

	ext := []string{"point", "impl", "source"}
	calls := counterDeltas(prev, cur, MetricExtCalls, ext, nil)
	failed := counterDeltas(prev, cur, MetricExtCalls, ext, func(l map[string]string) bool {
		switch l["outcome"] {
		case "error", "panic", "timeout":
			return true
		}
		return false
	})
	for k, a := range calls {
		if a.sum <= 0 {
			continue
		}
		f := 0.0
		if fa := failed[k]; fa != nil {
			f = fa.sum
		}
		// The failing ones first, then the busiest.
		out = append(out, Point{Panel: PanelExtFailures, Labels: a.labels, Value: 100 * f / a.sum, Weight: f*1e9 + a.sum})
	}
	return out
}
