package outbox_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tmf-platform/tmf/platform/outbox"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

func TestBacklogMetricsAndReadiness(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite)
	b := outbox.NewBacklog(st, nil)
	reg := prometheus.NewRegistry()
	if err := b.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.ReadyCheck(time.Nanosecond)(t.Context()); err != nil {
		t.Fatalf("an empty outbox is not ready: %v", err)
	}
	placeOrders(t, st, 3)
	if err := b.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP tmf_outbox_backlog_events Committed events not yet relayed (outbox rows without delivered_at), as last read.
# TYPE tmf_outbox_backlog_events gauge
tmf_outbox_backlog_events 3
`), "tmf_outbox_backlog_events"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		maxAge  time.Duration
		wantErr bool
	}{
		{"off", 0, false},
		{"generous", time.Hour, false},
		{"exceeded", time.Nanosecond, true},
	}
	for _, tc := range tests {
		err := b.ReadyCheck(tc.maxAge)(t.Context())
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: ready check = %v, want error %v", tc.name, err, tc.wantErr)
		}
	}
	if b.Age() <= 0 {
		t.Fatalf("backlog age %v with 3 events waiting", b.Age())
	}
}
