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

// An idle RunIdle waits (here an hour) until its signal is closed, then
// passes at once; a pass that worked is followed by another after Busy
// without waiting for a signal.
func TestRunIdleWakesOnItsSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	signals := make(chan chan struct{}, 10)
	passes := make(chan int, 10)
	n := 0
	idle := periodic.Idle{Busy: time.Hour, Max: func() time.Duration { return time.Hour },
		Signal: func() <-chan struct{} {
			c := make(chan struct{})
			signals <- c
			return c
		}}
	go periodic.RunIdle(ctx, idle, slog.New(slog.DiscardHandler), "the pass", func(context.Context) (bool, error) {
		n++
		passes <- n
		return false, nil
	})
	next := func(what string) int {
		t.Helper()
		select {
		case p := <-passes:
			return p
		case <-time.After(time.Minute):
			t.Fatalf("no pass %s", what)
			return 0
		}
	}
	if p := next("at once"); p != 1 {
		t.Fatalf("pass %d first", p)
	}
	select {
	case p := <-passes:
		t.Fatalf("pass %d without a signal while idle", p)
	case <-time.After(200 * time.Millisecond):
	}
	close(<-signals)
	if p := next("after the signal"); p != 2 {
		t.Fatalf("pass %d after the signal", p)
	}

	// Busy: a pass that worked is followed by another after Busy.
	worked := make(chan struct{})
	go periodic.RunIdle(ctx, periodic.Idle{Busy: time.Millisecond}, slog.New(slog.DiscardHandler), "busy", func(context.Context) (bool, error) {
		select {
		case worked <- struct{}{}:
		case <-ctx.Done():
		}
		return true, nil
	})
	for range 3 {
		select {
		case <-worked:
		case <-time.After(time.Minute):
			t.Fatal("a busy loop stopped passing")
		}
	}
}
