package store_test

import (
	"testing"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Reading a principal brings the current path of its org node along, so
// that authentication costs one statement; it follows moves at once.
func TestPrincipalReadsCarryTheOrgPath(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for _, o := range []store.Org{{ID: "hq"}, {ID: "east", Parent: "hq"}, {ID: "west", Parent: "hq"}, {ID: "sh", Parent: "east"}} {
			if _, err := s.CreateOrg(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []store.Principal{{ID: "agent", Roles: "agent", Org: "sh", TokenHash: "t-agent"},
			{ID: "loose", Roles: "buyer", TokenHash: "t-loose"}, {ID: "lost", Roles: "agent", Org: "gone", TokenHash: "t-lost"}} {
			if err := s.CreatePrincipal(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		check := func(hash, wantID, wantPath string) {
			t.Helper()
			p, err := s.PrincipalByTokenHash(ctx, hash)
			if err != nil || p.ID != wantID || p.OrgPath != wantPath {
				t.Fatalf("PrincipalByTokenHash(%s) = %+v, %v; want %s at %q", hash, p, err, wantID, wantPath)
			}
			g, err := s.GetPrincipal(ctx, wantID)
			if err != nil || g.OrgPath != wantPath || g.Roles != p.Roles || g.Org != p.Org {
				t.Fatalf("GetPrincipal(%s) = %+v, %v; want path %q", wantID, g, err, wantPath)
			}
		}
		check("t-agent", "agent", "/hq/east/sh/")
		check("t-loose", "loose", "")
		check("t-lost", "lost", "")
		if _, err := s.MoveOrg(ctx, "sh", "west"); err != nil {
			t.Fatal(err)
		}
		check("t-agent", "agent", "/hq/west/sh/")
	})
}
