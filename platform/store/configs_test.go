package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Configuration revisions are numbered one after another; a save based on
// anything but the latest is stale and writes nothing, audit included.
func TestConfigRevisions(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		if _, err := s.LatestConfig(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("LatestConfig on an empty store = %v; want ErrNotFound", err)
		}
		if n, err := s.LatestConfigRevision(ctx); err != nil || n != 0 {
			t.Fatalf("LatestConfigRevision = %d, %v; want 0", n, err)
		}
		audit := func(id string) store.AuditEntry {
			return store.AuditEntry{Actor: "alice", Action: "identity.write", Verb: "update", TargetType: "identity", TargetID: id,
				Before: json.RawMessage(`{"name":"old"}`), After: json.RawMessage(`{"name":"new"}`), TraceID: "t1"}
		}
		rev, err := s.SaveConfig(ctx, 0, store.ConfigRevision{Body: []byte(`{"identities":[]}`), Author: "file"})
		if err != nil || rev != 1 {
			t.Fatalf("first save = %d, %v; want 1", rev, err)
		}
		rev, err = s.SaveConfig(ctx, 1, store.ConfigRevision{Body: []byte(`{"identities":[{"code":"retail"}]}`), Author: "alice"}, audit("retail"))
		if err != nil || rev != 2 {
			t.Fatalf("second save = %d, %v; want 2", rev, err)
		}
		for _, base := range []int64{0, 1, 3} {
			if _, err := s.SaveConfig(ctx, base, store.ConfigRevision{Body: []byte(`{}`), Author: "bob"}, audit("stale")); !errors.Is(err, store.ErrStale) {
				t.Fatalf("save on base %d = %v; want ErrStale", base, err)
			}
		}
		if _, err := s.SaveConfig(ctx, 2, store.ConfigRevision{Author: "bob"}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("empty body = %v; want ErrInvalid", err)
		}
		latest, err := s.LatestConfig(ctx)
		if err != nil || latest.Revision != 2 || latest.Author != "alice" || string(latest.Body) != `{"identities":[{"code":"retail"}]}` {
			t.Fatalf("LatestConfig = %+v, %v", latest, err)
		}
		entries, err := s.ListAudit(ctx, store.AuditQuery{})
		if err != nil || len(entries) != 1 || entries[0].TargetID != "retail" || string(entries[0].After) != `{"name":"new"}` {
			t.Fatalf("audit after stale saves = %+v, %v; want only the entry of revision 2", entries, err)
		}
	})
}

// Concurrent saves on one base: exactly one wins, the others are stale, and
// exactly one audit entry is written.
func TestConfigSavesRace(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		if _, err := s.SaveConfig(ctx, 0, store.ConfigRevision{Body: []byte(`{}`), Author: "file"}); err != nil {
			t.Fatal(err)
		}
		const racers = 12
		var wg sync.WaitGroup
		results := make([]error, racers)
		for i := range racers {
			wg.Go(func() {
				_, results[i] = s.SaveConfig(ctx, 1, store.ConfigRevision{Body: fmt.Appendf(nil, `{"n":%d}`, i), Author: "racer"},
					store.AuditEntry{Actor: "racer", Action: "identity.write", Verb: "update", TargetType: "identity", TargetID: fmt.Sprint(i)})
			})
		}
		wg.Wait()
		wins := 0
		for i, err := range results {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, store.ErrStale) || store.IsRetryable(err):
			default:
				t.Errorf("racer %d: %v", i, err)
			}
		}
		entries, err := s.ListAudit(ctx, store.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := s.LatestConfigRevision(ctx); wins != 1 || len(entries) != 1 || n != 2 {
			t.Fatalf("%d winners, %d audit entries, latest revision %d; want 1, 1, 2", wins, len(entries), n)
		}
	})
}

// The audit log pages newest first and filters by target.
func TestAuditLog(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for i := range 7 {
			target := "retail"
			if i%2 == 1 {
				target = "b2b"
			}
			if err := s.RecordAudit(ctx, store.AuditEntry{Actor: "alice", Action: "identity.write", Verb: "update",
				TargetType: "identity", TargetID: target, After: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RecordAudit(ctx, store.AuditEntry{Actor: "alice"}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("an entry without action = %v; want ErrInvalid", err)
		}
		var got []string
		q := store.AuditQuery{TargetType: "identity", TargetID: "retail", Limit: 2}
		for {
			page, err := s.ListAudit(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page {
				if e.TargetID != "retail" || e.At.IsZero() || len(e.Before) != 0 {
					t.Fatalf("entry %+v", e)
				}
				got = append(got, string(e.After))
			}
			if len(page) < q.Limit {
				break
			}
			q.Before = page[len(page)-1].ID
		}
		if want := `[{"n":6} {"n":4} {"n":2} {"n":0}]`; fmt.Sprint(got) != want {
			t.Fatalf("retail entries newest first = %v; want %v", got, want)
		}
	})
}

// Principals list in id order, a page at a time, optionally under an org.
func TestListPrincipals(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for _, o := range []store.Org{{ID: "hq"}, {ID: "east", Parent: "hq"}, {ID: "sh", Parent: "east"}, {ID: "west", Parent: "hq"}} {
			if _, err := s.CreateOrg(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []store.Principal{{ID: "a-sh", Org: "sh"}, {ID: "b-west", Org: "west"}, {ID: "c-none"}, {ID: "d-east", Org: "east"}} {
			p.Roles, p.TokenHash = "agent", "t-"+p.ID
			if err := s.CreatePrincipal(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		ids := func(q store.PrincipalQuery) string {
			t.Helper()
			var out []string
			for {
				page, err := s.ListPrincipals(ctx, q)
				if err != nil {
					t.Fatalf("ListPrincipals(%+v): %v", q, err)
				}
				for _, p := range page {
					out = append(out, p.ID+"@"+p.OrgPath)
				}
				if len(page) < max(q.Limit, 1) || q.Limit == 0 {
					return fmt.Sprint(out)
				}
				q.After = page[len(page)-1].ID
			}
		}
		if got, want := ids(store.PrincipalQuery{Limit: 3}), "[a-sh@/hq/east/sh/ b-west@/hq/west/ c-none@ d-east@/hq/east/]"; got != want {
			t.Fatalf("all = %s; want %s", got, want)
		}
		if got, want := ids(store.PrincipalQuery{Org: "east"}), "[a-sh@/hq/east/sh/ d-east@/hq/east/]"; got != want {
			t.Fatalf("under east = %s; want %s", got, want)
		}
		if _, err := s.ListPrincipals(ctx, store.PrincipalQuery{Org: "nowhere"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("under an unknown org = %v; want ErrNotFound", err)
		}
	})
}
