package reconcile_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/tmf-platform/tmf/platform/reconcile"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// TestOneRunAtATime: runners of two processes (two stores on one
// database) never run together; a run held elsewhere is ErrBusy, and the
// lease is free again once the run ends.
func TestOneRunAtATime(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		dsn := storetest.NewDatabase(t, dialect)
		open := func(node string) *reconcile.Runner {
			st, err := store.Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if err := st.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			r := reconcile.New(st, reconcile.Options{Node: node})
			if err := r.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			return r
		}
		a, b := open("a"), open("b")

		release, err := a.Hold(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []*reconcile.Runner{a, b} {
			if _, err := r.Run(t.Context(), reconcile.KindFull, "test"); !errors.Is(err, reconcile.ErrBusy) {
				t.Fatalf("a run while the lease is held: %v", err)
			}
			if _, err := r.Hold(t.Context()); !errors.Is(err, reconcile.ErrBusy) {
				t.Fatalf("a second hold: %v", err)
			}
		}
		release()

		// Racers on both processes: every run that starts finishes before
		// another starts (the lease), the others are ErrBusy.
		var mu sync.Mutex
		var ran []reconcile.Run
		var wg sync.WaitGroup
		for i := range 8 {
			r := []*reconcile.Runner{a, b}[i%2]
			wg.Go(func() {
				run, err := r.Run(context.Background(), reconcile.KindIncremental, "test")
				switch {
				case errors.Is(err, reconcile.ErrBusy):
				case err != nil:
					t.Error(err)
				default:
					mu.Lock()
					ran = append(ran, run)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(ran) == 0 {
			t.Fatal("no run ran")
		}
		for i, x := range ran {
			for _, y := range ran[i+1:] {
				if x.StartedAt.Before(*y.FinishedAt) && y.StartedAt.Before(*x.FinishedAt) {
					t.Errorf("runs %s and %s overlapped", x.ID, y.ID)
				}
			}
		}
		if _, err := b.Run(t.Context(), reconcile.KindFull, "test"); err != nil {
			t.Fatalf("a run once the lease is free: %v", err)
		}
		runs, err := a.ListRuns(t.Context(), "", 100)
		if err != nil || len(runs) != len(ran)+1 {
			t.Fatalf("%d runs listed, %d ran: %v", len(runs), len(ran)+1, err)
		}
	})
}
