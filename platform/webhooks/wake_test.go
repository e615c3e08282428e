package webhooks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// An idle worker is woken by a delivery another server committed (another
// Store on the database; PostgreSQL's notification), with a poll and a
// safety poll far longer than the test's deadline, so that only the
// notification can explain the attempt.
func TestAnIdleWorkerWakesForAnotherServersDelivery(t *testing.T) {
	t.Parallel()
	dsn := storetest.NewDatabase(t, store.Postgres)
	stA, stB := storetest.OpenOn(t, dsn, store.WithSafetyPoll(time.Hour)), storetest.OpenOn(t, dsn, store.WithSafetyPoll(time.Hour))
	if err := stA.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("webhook-id")
	}))
	t.Cleanup(srv.Close)
	a := New(stA, Options{Guard: Guard{AllowPrivate: true}, Owner: "a", Poll: time.Hour})
	b := New(stB, Options{Guard: Guard{AllowPrivate: true}, Owner: "b", Poll: time.Hour})
	if err := a.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Create(t.Context(), EndpointSpec{URL: srv.URL + "/hook", EventTypes: []string{"*"}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(time.Second) // a's first pass (at once) finds nothing; then it waits
	if err := b.Handle(t.Context(), event("ev-wake")); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-got:
		if id == "" {
			t.Fatal("an attempt without a webhook-id")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the delivery committed by another server was not attempted within 30s")
	}
}
