package store_test

import (
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

func TestOutbox(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		// Written out of order; listed oldest first.
		for i, at := range []time.Duration{3, 1, 2} {
			n := newOrder([]string{"o-3", "o-1", "o-2"}[i])
			n.Events[0].CreatedAt = base.Add(at * time.Second)
			n.Events[0].ID = [...]string{"e3", "e1", "e2"}[i]
			mustCreate(t, s, n)
		}
		ids := func(evs []store.OutboxEvent) []string {
			var out []string
			for _, e := range evs {
				out = append(out, e.ID)
			}
			return out
		}
		deepEqual(t, "pending", ids(pending(t, s)), []string{"e1", "e2", "e3"})
		first, err := s.PendingEvents(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		deepEqual(t, "pending, limit 2", ids(first), []string{"e1", "e2"})
		if !first[0].CreatedAt.Equal(base.Add(time.Second)) || first[0].AggregateID != "o-1" {
			t.Errorf("event = %+v", first[0])
		}

		for range 2 {
			if err := s.RecordAttempt(ctx, "e2"); err != nil {
				t.Fatal(err)
			}
		}
		wantErrIs(t, s.RecordAttempt(ctx, "nope"), store.ErrNotFound)
		if err := s.MarkDelivered(ctx, "e1", "e3", "nope"); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkDelivered(ctx, "e1"); err != nil { // again: no harm
			t.Fatal(err)
		}
		if err := s.MarkDelivered(ctx); err != nil {
			t.Fatal(err)
		}
		left := pending(t, s)
		deepEqual(t, "pending after delivery", ids(left), []string{"e2"})
		if left[0].Attempts != 2 {
			t.Errorf("attempts = %d, want 2", left[0].Attempts)
		}
	})
}

func TestPrincipals(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		p := store.Principal{ID: "agent-7", Roles: "buyer,agent", Org: "/0/22/", TokenHash: "ab12", Attrs: `{"agentLevel":"1"}`,
			CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)}
		if err := s.CreatePrincipal(ctx, p); err != nil {
			t.Fatal(err)
		}
		want := p
		want.CreatedAt = utc(p.CreatedAt)
		got, err := s.GetPrincipal(ctx, "agent-7")
		if err != nil {
			t.Fatal(err)
		}
		deepEqual(t, "by id", got, want)
		got, err = s.PrincipalByTokenHash(ctx, "ab12")
		if err != nil {
			t.Fatal(err)
		}
		deepEqual(t, "by token", got, want)

		cases := []struct {
			name string
			p    store.Principal
			err  error
		}{
			{"same id", store.Principal{ID: "agent-7", TokenHash: "cd34"}, store.ErrDuplicate},
			{"same token", store.Principal{ID: "agent-8", TokenHash: "ab12"}, store.ErrDuplicate},
			{"no id", store.Principal{TokenHash: "ef56"}, store.ErrInvalid},
			{"no token", store.Principal{ID: "agent-9"}, store.ErrInvalid},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { wantErrIs(t, s.CreatePrincipal(ctx, c.p), c.err) })
		}
		_, err = s.GetPrincipal(ctx, "nobody")
		wantErrIs(t, err, store.ErrNotFound)
		_, err = s.PrincipalByTokenHash(ctx, "ffff")
		wantErrIs(t, err, store.ErrNotFound)
	})
}

func TestPutPrincipalRotatesToken(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		if err := s.PutPrincipal(ctx, store.Principal{ID: "admin", Roles: "admin", TokenHash: "old"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreatePrincipal(ctx, store.Principal{ID: "alice", Roles: "buyer", TokenHash: "alice-token"}); err != nil {
			t.Fatal(err)
		}
		created, _ := s.GetPrincipal(ctx, "admin")
		for range 2 { // the same put twice changes nothing the second time
			if err := s.PutPrincipal(ctx, store.Principal{ID: "admin", Roles: "admin,ops", Org: "/hq", TokenHash: "new", Attrs: `{"a":"b"}`}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.PrincipalByTokenHash(ctx, "new")
		if err != nil {
			t.Fatal(err)
		}
		want := store.Principal{ID: "admin", Roles: "admin,ops", Org: "/hq", TokenHash: "new", Attrs: `{"a":"b"}`, CreatedAt: created.CreatedAt}
		deepEqual(t, "rotated", got, want)
		_, err = s.PrincipalByTokenHash(ctx, "old")
		wantErrIs(t, err, store.ErrNotFound)
		// Another principal's token: refused on every dialect, and alice is untouched.
		wantErrIs(t, s.PutPrincipal(ctx, store.Principal{ID: "admin", Roles: "admin", TokenHash: "alice-token"}), store.ErrDuplicate)
		wantErrIs(t, s.PutPrincipal(ctx, store.Principal{ID: "mallory", Roles: "admin", TokenHash: "alice-token"}), store.ErrDuplicate)
		alice, _ := s.PrincipalByTokenHash(ctx, "alice-token")
		if alice.ID != "alice" || alice.Roles != "buyer" {
			t.Errorf("alice = %+v", alice)
		}
	})
}

// Enqueue writes events on their own, all or none: an empty ID becomes 128
// random bits in hex, an empty AggregateID the one given, an empty
// CreatedAt the store's clock.
func TestEnqueue(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		clk := newClock()
		s := storetest.Open(t, dialect, store.WithClock(clk.Now))
		ctx := t.Context()
		at := time.Date(2026, 4, 30, 8, 0, 0, 1500, time.FixedZone("CST", 8*3600))
		err := s.Enqueue(ctx, "o-9",
			store.OutboxEvent{Topic: "payment.refund_due", Payload: `{"amount":100}`},
			store.OutboxEvent{ID: "e-own", Topic: "order.note", AggregateID: "o-other", Payload: "{}", CreatedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		evs := pending(t, s)
		if len(evs) != 2 {
			t.Fatalf("outbox = %+v, want 2 events", evs)
		}
		// Oldest first: the event with its own, earlier time comes first.
		deepEqual(t, "own event", evs[0], store.OutboxEvent{ID: "e-own", Topic: "order.note", AggregateID: "o-other", Payload: "{}",
			CreatedAt: utc(at)})
		if len(evs[1].ID) != 32 {
			t.Errorf("generated id %q, want 32 hex digits", evs[1].ID)
		}
		evs[1].ID = ""
		deepEqual(t, "filled-in event", evs[1], store.OutboxEvent{Topic: "payment.refund_due", AggregateID: "o-9",
			Payload: `{"amount":100}`, CreatedAt: clk.Now()})

		// One event without a topic: none is written.
		err = s.Enqueue(ctx, "o-9", store.OutboxEvent{Topic: "ok", Payload: "{}"}, store.OutboxEvent{Payload: "{}"})
		wantErrIs(t, err, store.ErrInvalid)
		// One event whose id exists: none is written.
		err = s.Enqueue(ctx, "o-9", store.OutboxEvent{ID: "e-new", Topic: "ok", Payload: "{}"},
			store.OutboxEvent{ID: "e-own", Topic: "again", Payload: "{}"})
		if err == nil {
			t.Error("enqueued an event with an existing id")
		}
		if err := s.Enqueue(ctx, "o-9"); err != nil {
			t.Errorf("enqueue nothing: %v", err)
		}
		if got := pending(t, s); len(got) != 2 {
			t.Errorf("outbox after refused enqueues = %+v, want the 2 events", got)
		}
	})
}
