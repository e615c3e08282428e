package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
	"github.com/tmf-platform/tmf/products/standardretail"
)

// leaseServer is a server whose orders fail (their SKU does not exist), so
// that every request releases its key, with the given lease.
func leaseServer(t *testing.T, lease time.Duration) (*Server, *store.Store) {
	t.Helper()
	st := storetest.Open(t, "sqlite")
	k, err := catalog.NewKernel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Apply(kernel.Config{Revision: 1,
		Identities: []kernel.IdentitySpec{{Code: "retail", Products: []kernel.ProductRef{{Name: standardretail.Name}}}},
		Rules:      []identity.Rule{{Identity: "retail"}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePrincipal(t.Context(), store.Principal{ID: "alice", Roles: RoleBuyer, TokenHash: TokenHash("alice-token")}); err != nil {
		t.Fatal(err)
	}
	return New(Config{Service: order.NewService(k, st), Store: st, Kernel: k, IdempotencyLease: lease}), st
}

func placeWithKey(t *testing.T, s *Server, key string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/v1/orders", strings.NewReader(`{"items":[{"sku":"ghost","quantity":1}]}`))
	r.Header.Set("Authorization", "Bearer alice-token")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Idempotency-Key", key)
	s.Handler().ServeHTTP(w, r)
	var code struct{ Code string }
	_ = json.Unmarshal(w.Body.Bytes(), &code)
	return w.Code, code.Code
}

// A release that fails is tried again; one that keeps failing leaves the
// key to its lease, and a retry takes it over once the lease ran out:
// never blocked for good.
func TestFailedReleaseDoesNotBlockRetries(t *testing.T) {
	t.Run("retried", func(t *testing.T) {
		s, st := leaseServer(t, time.Minute)
		var calls atomic.Int32
		s.release = func(ctx context.Context, principal, key, owner string) error {
			if calls.Add(1) < releaseAttempts {
				return errors.New("connection reset by peer")
			}
			return st.ReleaseIdempotency(ctx, principal, key, owner)
		}
		if status, code := placeWithKey(t, s, "k-1"); status != 422 || code != order.CodeSKUNotFound {
			t.Fatalf("first = %d %s", status, code)
		}
		if n := calls.Load(); n != releaseAttempts {
			t.Fatalf("release tried %d times, want %d", n, releaseAttempts)
		}
		// Released on the last try: the retry runs at once.
		if status, code := placeWithKey(t, s, "k-1"); status != 422 || code != order.CodeSKUNotFound {
			t.Fatalf("retry = %d %s; want the order to run again", status, code)
		}
	})
	t.Run("left to the lease", func(t *testing.T) {
		const lease = 2 * time.Second
		s, _ := leaseServer(t, lease)
		var calls atomic.Int32
		s.release = func(context.Context, string, string, string) error {
			calls.Add(1)
			return errors.New("database is locked")
		}
		start := time.Now()
		if status, _ := placeWithKey(t, s, "k-1"); status != 422 {
			t.Fatalf("first = %d", status)
		}
		if n := calls.Load(); n != releaseAttempts {
			t.Fatalf("release tried %d times, want %d", n, releaseAttempts)
		}
		if time.Since(start) < lease {
			if status, code := placeWithKey(t, s, "k-1"); status != 409 || code != CodeIdempotencyInProgress {
				t.Fatalf("retry within the lease = %d %s; want 409 idempotency_in_progress", status, code)
			}
		}
		time.Sleep(lease)
		if status, code := placeWithKey(t, s, "k-1"); status != 422 || code != order.CodeSKUNotFound {
			t.Fatalf("retry after the lease = %d %s; want the order to run again", status, code)
		}
	})
}

// A request that runs longer than its lease keeps its key: it renews the
// lease while it runs, and stops renewing when it ends.
func TestLongRequestRenewsItsClaim(t *testing.T) {
	const lease = 600 * time.Millisecond
	s, st := leaseServer(t, lease)
	ctx := t.Context()
	rec, won, err := st.ClaimIdempotency(ctx, "alice", "long", "h", lease)
	if err != nil || !won {
		t.Fatal(won, err)
	}
	stop := s.renewClaim(ctx, rec)
	deadline := time.Now().Add(4 * lease)
	for time.Now().Before(deadline) {
		if _, won, err := st.ClaimIdempotency(ctx, "alice", "long", "h", lease); err != nil || won {
			t.Fatalf("a renewed claim was taken over (%v)", err)
		}
		time.Sleep(lease / 5)
	}
	stop()
	time.Sleep(lease + lease/2)
	if _, won, err := st.ClaimIdempotency(ctx, "alice", "long", "h", lease); err != nil || !won {
		t.Fatalf("a claim no longer renewed was not taken over after its lease: %v %v", won, err)
	}
}
