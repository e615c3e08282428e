package periodic_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/periodic"
)

// The first pass runs at once, a failed pass is logged and the next one
// still runs, and Run returns when its context ends.
func TestRunPassesUntilCancelled(t *testing.T) {
	var logged bytes.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		periodic.Run(ctx, time.Millisecond, slog.New(slog.NewTextHandler(&logged, nil)), "the pass", func(context.Context) error {
			calls++
			if calls == 3 {
				cancel()
			}
			return errors.New("boom")
		})
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after its context ended")
	}
	if calls != 3 {
		t.Fatalf("%d passes, want 3", calls)
	}
	if n := strings.Count(logged.String(), "boom"); n != 2 {
		t.Fatalf("%d errors logged (the one after the cancel is not): %s", n, logged.String())
	}
}
