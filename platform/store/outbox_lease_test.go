package store_test

import (
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

func TestOutboxLease(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		var mu sync.Mutex
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		s := storetest.Open(t, dialect, store.WithClock(clock))
		ctx := t.Context()
		steps := []struct {
			name    string
			advance time.Duration
			owner   string
			want    bool
		}{
			{"first claim wins", 0, "a", true},
			{"another owner waits", time.Second, "b", false},
			{"the holder renews", time.Second, "a", true},
			{"renewed in the same instant", 0, "a", true},
			{"still held after the renewal", 9 * time.Second, "b", false},
			{"taken over once expired", 2 * time.Second, "b", true},
			{"the old holder lost it", 0, "a", false},
		}
		for _, st := range steps {
			advance(st.advance)
			got, err := s.ClaimOutboxLease(ctx, "outbox", st.owner, 10*time.Second)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if got != st.want {
				t.Fatalf("%s: claim by %s = %v, want %v", st.name, st.owner, got, st.want)
			}
		}
		if err := s.ReleaseOutboxLease(ctx, "outbox", "a"); err != nil { // not the holder: no effect
			t.Fatal(err)
		}
		if ok, _ := s.ClaimOutboxLease(ctx, "outbox", "a", 10*time.Second); ok {
			t.Fatal("a released lease it did not hold took effect")
		}
		if err := s.ReleaseOutboxLease(ctx, "outbox", "b"); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.ClaimOutboxLease(ctx, "outbox", "a", 10*time.Second); !ok || err != nil {
			t.Fatalf("claim after the holder released: %v, %v", ok, err)
		}
	})
}

func TestOutboxBacklog(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		b, err := s.Backlog(ctx)
		if err != nil || b.Count != 0 || !b.Oldest.IsZero() {
			t.Fatalf("empty backlog: %+v, %v", b, err)
		}
		base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		for i, id := range []string{"o-2", "o-1", "o-3"} {
			n := newOrder(id)
			n.Events[0].CreatedAt = base.Add(time.Duration(2-i) * time.Second)
			if err := s.CreateOrder(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		b, err = s.Backlog(ctx)
		if err != nil || b.Count != 3 || !b.Oldest.Equal(base) {
			t.Fatalf("backlog of 3: %+v, %v", b, err)
		}
	})
}
