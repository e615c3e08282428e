package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/store"
)

// bizpackStatusEvents returns the bizpack host's OnStatus: every status
// change of a bizpack process on this server becomes a
// bizpack.status_changed outbox event (aggregate: the bizpack's name),
// written in order by one goroutine so that the supervisor never waits for
// the database. Changes that arrive while 256 are waiting (the database is
// down) are logged and dropped: the status is also in GET
// /v1/admin/bizpacks and the metrics.
func bizpackStatusEvents(st *store.Store, log *slog.Logger) func(bizpackhost.StatusChange) {
	host, _ := os.Hostname()
	node := fmt.Sprintf("%s:%d", host, os.Getpid())
	queue := make(chan bizpackhost.StatusChange, 256)
	go func() {
		for c := range queue {
			p := map[string]any{"name": c.Name, "from": c.From, "status": c.To, "node": node}
			if c.Version != "" {
				p["version"] = c.Version
			}
			if c.Error != "" {
				p["error"] = c.Error
			}
			b, _ := json.Marshal(p) // strings only
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := st.Enqueue(ctx, c.Name, store.OutboxEvent{Topic: events.BizpackStatusChanged, Payload: string(b), CreatedAt: c.At})
			cancel()
			if err != nil {
				log.Warn("bizpack status event not written", "bizpack", c.Name, "status", c.To, "error", err)
			}
		}
	}()
	return func(c bizpackhost.StatusChange) {
		select {
		case queue <- c:
		default:
			log.Warn("bizpack status event dropped: too many waiting", "bizpack", c.Name, "status", c.To)
		}
	}
}
