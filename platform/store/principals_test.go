package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// A token is rotated (the old one dies), a principal disabled and removed;
// the last enabled admin can be neither demoted, disabled nor removed.
func TestPrincipalTokensAndTheLastAdmin(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for _, p := range []store.Principal{{ID: "root", Roles: "admin", TokenHash: "t-root"},
			{ID: "alice", Roles: "buyer", TokenHash: "t-alice"}} {
			if err := s.CreatePrincipal(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		root, _ := s.GetPrincipal(ctx, "root")
		demoted, disabled := root, root
		demoted.Roles, disabled.Disabled = "operator", true
		for name, p := range map[string]store.Principal{"demoted": demoted, "disabled": disabled} {
			if err := s.UpdatePrincipal(ctx, p); !errors.Is(err, store.ErrLastAdmin) {
				t.Fatalf("%s the last admin: %v", name, err)
			}
		}
		if err := s.DeletePrincipal(ctx, "root"); !errors.Is(err, store.ErrLastAdmin) {
			t.Fatalf("removing the last admin: %v", err)
		}
		if err := s.CreatePrincipal(ctx, store.Principal{ID: "root2", Roles: "buyer,admin", TokenHash: "t-root2"}); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdatePrincipal(ctx, disabled); err != nil {
			t.Fatalf("disabling one of two admins: %v", err)
		}
		if p, _ := s.GetPrincipal(ctx, "root"); !p.Disabled {
			t.Fatal("root is not disabled")
		}
		if err := s.DeletePrincipal(ctx, "root2"); !errors.Is(err, store.ErrLastAdmin) {
			t.Fatalf("removing the last enabled admin: %v", err)
		}

		at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := s.RotatePrincipalToken(ctx, "alice", "t-alice-2", &at); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PrincipalByTokenHash(ctx, "t-alice"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the old token: %v", err)
		}
		p, err := s.PrincipalByTokenHash(ctx, "t-alice-2")
		if err != nil || p.ID != "alice" || p.TokenExpiresAt == nil || !p.TokenExpiresAt.Equal(at) {
			t.Fatalf("the new token: %+v, %v", p, err)
		}
		if err := s.RotatePrincipalToken(ctx, "alice", "t-root2", nil); !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("a token of another: %v", err)
		}
		if err := s.RotatePrincipalToken(ctx, "ghost", "t-ghost", nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("rotating a missing principal: %v", err)
		}
		if err := s.DeletePrincipal(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetPrincipal(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("alice after removal: %v", err)
		}
		if err := s.DeletePrincipal(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("removing twice: %v", err)
		}
	})
}
