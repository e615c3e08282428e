package fulfilment_test

import (
	"context"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	ful "github.com/tmf-platform/tmf/platform/fulfilment"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// An idle fulfilment worker is woken by an order another server paid
// (another Store on the database; PostgreSQL's notification of the new
// fulfilment row), with an interval and a safety poll far longer than the
// test's deadline, so that only the notification can explain the dispatch.
func TestAnIdleWorkerWakesForAnotherServersFulfilment(t *testing.T) {
	t.Parallel()
	dsn := storetest.NewDatabase(t, store.Postgres)
	stA, stB := storetest.OpenOn(t, dsn, store.WithSafetyPoll(time.Hour)), storetest.OpenOn(t, dsn, store.WithSafetyPoll(time.Hour))
	if err := stA.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	sup := &supplier{calls: map[string]int{}, dispatch: map[string][]extensions.FulfilmentAnswer{"ok": answers("fulfilled")}}
	a, b := setup(t, stA, sup), setup(t, stB, sup)
	w, err := ful.New(a.svc, a.k, stA, ful.Options{Now: a.clk.Now, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(time.Second) // the first sweep (at once) finds nothing; then the worker waits
	b.clk.now.Store(a.clk.now.Load())
	// Not b.paid: the woken worker may fulfil the order before Pay answers.
	id, _ := b.pay(t, "ok")
	deadline := time.Now().Add(30 * time.Second)
	for a.status(t, id) != "fulfilled" {
		if time.Now().After(deadline) {
			t.Fatalf("the order paid through another server is %s after 30s, want fulfilled", a.status(t, id))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
