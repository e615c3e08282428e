package readmodel_test

import (
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/readmodel"
)

// TestMeasureLag measures the read model's lag under load (docs/performance.md):
//
//	TMF_MEASURE=1 TMF_TEST_POSTGRES=… TMF_TEST_NATS=… go test -run MeasureLag -v ./platform/readmodel/
//
// 8 writers place, pay and cancel 600 orders (about 1,000 events) through
// the order service; the outbox relay publishes to JetStream; the feed
// applies. It reports the placement rate, the lag histogram (event time to
// apply) and how long after the last write the read model equals the store.
func TestMeasureLag(t *testing.T) {
	if os.Getenv("TMF_MEASURE") == "" {
		t.Skip("TMF_MEASURE is not set: the lag measurement runs on demand")
	}
	f := newFixture(t)
	m, _ := openModel(t)
	_, stream := eventing(t, f.st)
	met := readmodelMetrics(t)
	feed := startFeed(t, f, m, stream.Name, stream.SubjectPrefix, met.m, nil)
	defer feed.Stop(t.Context()) //nolint:errcheck
	start := time.Now()
	load(t, f, 8, 75, 0)
	wrote := time.Since(start)
	done := time.Now()
	eventually(t, 120*time.Second, func() string {
		got, err := modelOrdersErr(m)
		if err != nil {
			return err.Error()
		}
		return diff(storeOrders(t, f.st), got)
	})
	caught := time.Since(done)
	t.Logf("600 orders (+400 transitions) in %s: %.0f orders/s", wrote.Round(time.Millisecond), 600/wrote.Seconds())
	t.Logf("read model equal to the store %s after the last write (includes the poll)", caught.Round(time.Millisecond))
	t.Logf("lag, event time to apply: %s", met.quantiles())
}

type measured struct {
	m   *readmodel.Metrics
	reg *prometheus.Registry
}

func readmodelMetrics(t *testing.T) measured {
	reg := prometheus.NewRegistry()
	mm := readmodel.NewMetrics()
	if err := mm.Register(reg); err != nil {
		t.Fatal(err)
	}
	return measured{m: mm, reg: reg}
}

// quantiles reads p50/p90/p99 of the lag histogram (upper bucket bounds).
func (x measured) quantiles() string {
	mfs, err := x.reg.Gather()
	if err != nil {
		return err.Error()
	}
	for _, mf := range mfs {
		if mf.GetName() != "tmf_readmodel_lag_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		total := h.GetSampleCount()
		bs := h.GetBucket()
		sort.Slice(bs, func(i, j int) bool { return bs[i].GetUpperBound() < bs[j].GetUpperBound() })
		q := func(p float64) time.Duration {
			for _, b := range bs {
				if float64(b.GetCumulativeCount()) >= p*float64(total) {
					return time.Duration(b.GetUpperBound() * float64(time.Second))
				}
			}
			return -1
		}
		mean := time.Duration(h.GetSampleSum() / float64(total) * float64(time.Second)).Round(time.Millisecond)
		return fmt.Sprintf("mean %s; p50 <= %s, p90 <= %s, p99 <= %s (%d events applied)", mean, q(0.5), q(0.9), q(0.99), total)
	}
	return "no histogram"
}
