package store_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

func TestIdempotencyRecordLifecycle(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		clk := newClock()
		s := storetest.Open(t, dialect, store.WithClock(clk.Now))
		ctx := t.Context()
		const stale = time.Minute // the lease

		rec, won, err := s.ClaimIdempotency(ctx, "alice", "key-1", "h1", stale)
		if err != nil || !won || rec.State != store.IdempotencyRunning || rec.RequestHash != "h1" || !rec.UpdatedAt.Equal(clk.Now()) {
			t.Fatalf("first claim = %+v, %v, %v", rec, won, err)
		}
		clk.Add(10 * time.Second)
		rec, won, err = s.ClaimIdempotency(ctx, "alice", "key-1", "h2", stale)
		if err != nil || won || rec.RequestHash != "h1" || rec.State != store.IdempotencyRunning {
			t.Fatalf("claim while running = %+v, %v, %v", rec, won, err)
		}
		// Keys are per principal.
		if _, won, err := s.ClaimIdempotency(ctx, "bob", "key-1", "h1", stale); err != nil || !won {
			t.Fatalf("bob's claim of the same key = %v, %v", won, err)
		}

		if err := s.CompleteIdempotency(ctx, "alice", "key-1", 201, `{"id":"o-1"}`); err != nil {
			t.Fatal(err)
		}
		wantErrIs(t, s.CompleteIdempotency(ctx, "alice", "key-1", 500, "again"), store.ErrNotFound)
		clk.Add(time.Hour) // done records are never stale
		rec, won, err = s.ClaimIdempotency(ctx, "alice", "key-1", "h1", stale)
		if err != nil || won || rec.State != store.IdempotencyDone || rec.StatusCode != 201 || rec.Body != `{"id":"o-1"}` {
			t.Fatalf("claim after done = %+v, %v, %v", rec, won, err)
		}
		if err := s.ReleaseIdempotency(ctx, "alice", "key-1", rec.Owner); err != nil {
			t.Fatal(err)
		}
		if rec, won, _ := s.ClaimIdempotency(ctx, "alice", "key-1", "h1", stale); won || rec.State != store.IdempotencyDone {
			t.Fatalf("release removed a done record: %+v", rec)
		}

		// A failed request releases its claim and the retry proceeds.
		first, won, _ := s.ClaimIdempotency(ctx, "alice", "key-2", "h", stale)
		if !won {
			t.Fatal("claim of key-2 lost")
		}
		// Only the claim's owner releases it.
		if err := s.ReleaseIdempotency(ctx, "alice", "key-2", "someone-else"); err != nil {
			t.Fatal(err)
		}
		if _, won, _ := s.ClaimIdempotency(ctx, "alice", "key-2", "h", stale); won {
			t.Fatal("a release by another owner removed the claim")
		}
		if err := s.ReleaseIdempotency(ctx, "alice", "key-2", first.Owner); err != nil {
			t.Fatal(err)
		}
		if _, won, _ := s.ClaimIdempotency(ctx, "alice", "key-2", "h", stale); !won {
			t.Fatal("claim after release lost")
		}

		// A running record whose owner died (stopped renewing) is taken
		// over once its lease ran out.
		clk.Add(stale - time.Second)
		if _, won, _ := s.ClaimIdempotency(ctx, "alice", "key-2", "h-new", stale); won {
			t.Fatal("took over a record that is not stale yet")
		}
		clk.Add(time.Second)
		rec, won, err = s.ClaimIdempotency(ctx, "alice", "key-2", "h-new", stale)
		if err != nil || !won || rec.RequestHash != "h-new" || rec.State != store.IdempotencyRunning || !rec.CreatedAt.Equal(clk.Now()) {
			t.Fatalf("take-over = %+v, %v, %v", rec, won, err)
		}
		if _, won, _ := s.ClaimIdempotency(ctx, "alice", "key-2", "h-new", stale); won {
			t.Fatal("the taken-over record was taken over again at once")
		}
		if _, won, _ := s.ClaimIdempotency(ctx, "alice", "key-2", "h-new", 0); won {
			t.Fatal("lease 0 took over")
		}
		_, _, err = s.ClaimIdempotency(ctx, "alice", "", "h", stale)
		wantErrIs(t, err, store.ErrInvalid)
	})
}

// A claim whose owner renews its lease is never taken over; once the owner
// stops renewing, a retry takes it over after the lease, and the former
// owner can neither renew nor release its successor's claim.
func TestIdempotencyLease(t *testing.T) {
	t.Parallel()
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		clk := newClock()
		s := storetest.Open(t, dialect, store.WithClock(clk.Now))
		ctx := t.Context()
		const lease = 6 * time.Second

		rec, won, err := s.ClaimIdempotency(ctx, "alice", "k", "h", lease)
		if err != nil || !won || rec.Owner == "" || rec.LeaseUntil == nil || !rec.LeaseUntil.Equal(clk.Now().Add(lease)) {
			t.Fatalf("claim = %+v, %v, %v", rec, won, err)
		}
		// The owner renews every 2 s for a minute: no retry takes over.
		for range 30 {
			clk.Add(2 * time.Second)
			if err := s.RenewIdempotency(ctx, "alice", "k", rec.Owner, lease); err != nil {
				t.Fatal(err)
			}
			if cur, won, err := s.ClaimIdempotency(ctx, "alice", "k", "h", lease); err != nil || won || cur.Owner != rec.Owner {
				t.Fatalf("a retry took over a renewed claim: %+v, %v, %v", cur, won, err)
			}
		}
		// The owner dies: within the lease the claim holds, after it a retry takes over.
		clk.Add(lease - time.Millisecond)
		if _, won, _ := s.ClaimIdempotency(ctx, "alice", "k", "h", lease); won {
			t.Fatal("taken over before the lease ran out")
		}
		clk.Add(time.Millisecond)
		next, won, err := s.ClaimIdempotency(ctx, "alice", "k", "h", lease)
		if err != nil || !won || next.Owner == rec.Owner {
			t.Fatalf("take-over after the lease = %+v, %v, %v", next, won, err)
		}
		// The former owner (alive after all) lost the claim.
		clk.Add(time.Second)
		wantErrIs(t, s.RenewIdempotency(ctx, "alice", "k", rec.Owner, lease), store.ErrNotFound)
		if err := s.ReleaseIdempotency(ctx, "alice", "k", rec.Owner); err != nil {
			t.Fatal(err)
		}
		if cur, won, _ := s.ClaimIdempotency(ctx, "alice", "k", "h", lease); won || cur.Owner != next.Owner {
			t.Fatalf("the former owner's release removed its successor's claim: %+v, %v", cur, won)
		}
		if err := s.RenewIdempotency(ctx, "alice", "k", next.Owner, lease); err != nil {
			t.Fatal(err)
		}

		// A release that failed (here: never made) blocks a retry only
		// until the lease runs out.
		failed, _, _ := s.ClaimIdempotency(ctx, "alice", "k-failed", "h", lease)
		clk.Add(lease)
		if again, won, err := s.ClaimIdempotency(ctx, "alice", "k-failed", "h", lease); err != nil || !won || again.Owner == failed.Owner {
			t.Fatalf("retry after an unreleased failure = %+v, %v, %v", again, won, err)
		}
	})
}

// Exactly one of many concurrent claimers wins a fresh key, and exactly one
// wins the take-over of a stale one.
func TestIdempotencyClaimRace(t *testing.T) {
	t.Parallel()
	const claimers = 50
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Parallel()
		clk := newClock()
		s := storetest.Open(t, dialect, store.WithClock(clk.Now))
		race := func(key string) int64 {
			var won atomic.Int64
			var wg sync.WaitGroup
			for range claimers {
				wg.Go(func() {
					_, ok, err := s.ClaimIdempotency(t.Context(), "alice", key, "h", time.Minute)
					if err != nil {
						t.Error(err)
					}
					if ok {
						won.Add(1)
					}
				})
			}
			wg.Wait()
			return won.Load()
		}
		if n := race("fresh"); n != 1 {
			t.Errorf("%d claimers won a fresh key, want 1", n)
		}
		clk.Add(time.Hour)
		if n := race("fresh"); n != 1 {
			t.Errorf("%d claimers took over a stale key, want 1", n)
		}
	})
}

// The answer is recorded in the order's transaction, and only there.
func TestCreateOrderCompletesIdempotency(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		ctx := t.Context()
		seed(t, s, "sku1", 1)
		for i, id := range []string{"o-1", "o-2"} {
			key := "k-" + id
			if _, won, err := s.ClaimIdempotency(ctx, "alice", key, "h", time.Minute); err != nil || !won {
				t.Fatalf("claim: %v %v", won, err)
			}
			n := newOrder(id, reserve("sku1", 1))
			n.Idempotency = &store.IdempotencyResult{Principal: "alice", Key: key, StatusCode: 201, Body: `{"id":"` + id + `"}`}
			err := s.CreateOrder(ctx, n)
			rec, _, _ := s.ClaimIdempotency(ctx, "alice", key, "h", time.Minute)
			if i == 0 {
				if err != nil || rec.State != store.IdempotencyDone || rec.StatusCode != 201 || rec.Body != `{"id":"o-1"}` {
					t.Errorf("after order: %v, record %+v", err, rec)
				}
			} else if oos := (*stock.OutOfStockError)(nil); !errors.As(err, &oos) || rec.State != store.IdempotencyRunning || rec.Body != "" {
				// Out of stock: the record stays running, for the caller to release.
				t.Errorf("after a failed order: %v, record %+v", err, rec)
			}
		}
		if _, won, _ := s.ClaimIdempotency(ctx, "alice", "k-tr", "h", time.Minute); !won {
			t.Fatal("claim lost")
		}
		_, err := s.TransitionOrder(ctx, store.Transition{OrderID: "o-1", ExpectVersion: 1, To: "paid",
			Idempotency: &store.IdempotencyResult{Principal: "alice", Key: "k-tr", StatusCode: 200, Body: "paid"}})
		if err != nil {
			t.Fatal(err)
		}
		if rec, _, _ := s.ClaimIdempotency(ctx, "alice", "k-tr", "h", time.Minute); rec.State != store.IdempotencyDone || rec.Body != "paid" {
			t.Errorf("after transition: %+v", rec)
		}
	})
}
