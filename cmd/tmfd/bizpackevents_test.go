package main

import (
	"log/slog"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/events/eventstest"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Status changes of bizpacks become bizpack.status_changed events, in the
// order they happened, each matching its schema.
func TestBizpackStatusEvents(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	on := bizpackStatusEvents(st, slog.New(slog.DiscardHandler))
	at := time.Now().UTC()
	on(bizpackhost.StatusChange{Name: "b2b-distribution", Version: "1.0.0", From: "starting", To: "running", At: at})
	on(bizpackhost.StatusChange{Name: "b2b-distribution", Version: "1.0.0", From: "running", To: "restarting", Error: "plugin exited",
		At: at.Add(time.Millisecond)})
	var rows []store.OutboxEvent
	deadline := time.Now().Add(60 * time.Second)
	for len(rows) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after 60s, %d events", len(rows))
		}
		time.Sleep(20 * time.Millisecond)
		if err := st.DB(t.Context()).Where("topic = ?", events.BizpackStatusChanged).Order("created_at").Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
	}
	if rows[0].AggregateID != "b2b-distribution" || rows[1].AggregateID != "b2b-distribution" {
		t.Errorf("aggregates %q, %q", rows[0].AggregateID, rows[1].AggregateID)
	}
	if err := eventstest.Verify(t.Context(), st); err != nil {
		t.Fatal(err)
	}
}
