package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Changing a principal's roles takes effect at its next request, keeps its
// token, is audited with before and after, and a refused change changes
// nothing.
func TestUpdatePrincipal(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		created := decodeJSON[api.PrincipalCreated](t, e.do("POST", "/v1/admin/principals", adminToken,
			api.PrincipalRequest{ID: "pat", Roles: []string{"buyer"}}))
		can := func() map[string]bool {
			t.Helper()
			return decodeJSON[api.Me](t, e.do("GET", "/v1/me", created.Token, nil)).Can
		}
		if can()[api.ActionBizpacksRead] {
			t.Fatal("a buyer may read bizpacks")
		}
		for _, tc := range []struct {
			name, body string
			status     int
			field      string
		}{
			{"unknown role", `{"roles":["wizard"]}`, 400, "roles[0]"},
			{"no role", `{"roles":[]}`, 400, "roles"},
			{"org not a node", `{"roles":["agent"],"org":"ghost"}`, 400, "org"},
			{"bad identity", `{"roles":["operator"],"identities":["no way"]}`, 400, "identities[0]"},
			{"unknown field", `{"roles":["buyer"],"token":"x"}`, 400, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do("PUT", "/v1/admin/principals/pat", adminToken, tc.body)
				expect(t, r, tc.status, "")
				var p struct{ Field string }
				_ = json.Unmarshal(r.raw, &p)
				if tc.field != "" && p.Field != tc.field {
					t.Errorf("field = %q; want %s (%s)", p.Field, tc.field, r)
				}
			})
		}
		if v := decodeJSON[api.PrincipalView](t, e.do("GET", "/v1/admin/principals/pat", adminToken, nil)); !slices.Equal(v.Roles, []string{"buyer"}) {
			t.Fatalf("after refused changes pat is %+v", v)
		}
		r := e.do("PUT", "/v1/admin/principals/pat", adminToken, api.PrincipalUpdate{Roles: []string{"buyer", "admin"}})
		if v := decodeJSON[api.PrincipalView](t, r); r.status != http.StatusOK || !slices.Equal(v.Roles, []string{"buyer", "admin"}) {
			t.Fatalf("update: %s %+v", r, v)
		}
		// The same values again (MySQL reports no row changed): still 200.
		expect(t, e.do("PUT", "/v1/admin/principals/pat", adminToken, api.PrincipalUpdate{Roles: []string{"buyer", "admin"}}), 200, "")
		if !can()[api.ActionBizpacksRead] {
			t.Fatal("pat's next request, with the same token, is not decided on its new roles")
		}
		audit := decodeJSON[api.AuditList](t, e.do("GET", "/v1/admin/audit?targetType=principal&targetId=pat", adminToken, nil))
		if len(audit.Items) != 3 || audit.Items[1].Verb != "update" || audit.Items[2].Verb != "create" {
			t.Fatalf("audit of pat: %+v", audit.Items)
		}
		var before, after api.PrincipalView
		if json.Unmarshal(audit.Items[1].Before, &before) != nil || json.Unmarshal(audit.Items[1].After, &after) != nil ||
			!slices.Equal(before.Roles, []string{"buyer"}) || !slices.Equal(after.Roles, []string{"buyer", "admin"}) {
			t.Fatalf("audit entry: before %s after %s", audit.Items[1].Before, audit.Items[1].After)
		}
		expect(t, e.do("PUT", "/v1/admin/principals/nobody", adminToken, api.PrincipalUpdate{Roles: []string{"buyer"}}), 404, "principal_not_found")
	})
}

// Tokens can be revoked: a rotation kills the old token, a disabled or
// removed principal does not authenticate, an expired token neither; the
// last admin stays.
func TestTokenRevocation(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	bob := e.principal("bob", "buyer")
	expect(t, e.do("GET", "/v1/me", bob, nil), 200, "")

	r := e.do("POST", "/v1/admin/principals/bob/token", adminToken, nil)
	expect(t, r, 200, "")
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("a new token answered with Cache-Control %q", r.header.Get("Cache-Control"))
	}
	fresh := decodeJSON[api.TokenIssued](t, r).Token
	expect(t, e.do("GET", "/v1/me", bob, nil), 401, "unauthenticated")
	expect(t, e.do("GET", "/v1/me", fresh, nil), 200, "")

	expect(t, e.do("PUT", "/v1/admin/principals/bob", adminToken, `{"roles":["buyer"],"disabled":true}`), 200, "")
	expect(t, e.do("GET", "/v1/me", fresh, nil), 401, "unauthenticated")
	expect(t, e.do("PUT", "/v1/admin/principals/bob", adminToken, `{"roles":["buyer"]}`), 200, "")
	expect(t, e.do("GET", "/v1/me", fresh, nil), 200, "")

	r = e.do("POST", "/v1/admin/principals/bob/token", adminToken, `{"expiresIn":"3s"}`) // long enough to be used once on a starved machine
	expect(t, r, 200, "")
	short := decodeJSON[api.TokenIssued](t, r)
	if short.TokenExpiresAt == nil {
		t.Fatalf("no expiry in %s", r)
	}
	expect(t, e.do("GET", "/v1/me", short.Token, nil), 200, "")
	time.Sleep(time.Until(*short.TokenExpiresAt) + 10*time.Millisecond)
	expect(t, e.do("GET", "/v1/me", short.Token, nil), 401, "unauthenticated")

	expect(t, e.do("DELETE", "/v1/admin/principals/bob", adminToken, nil), 204, "")
	expect(t, e.do("GET", "/v1/admin/principals/bob", adminToken, nil), 404, "principal_not_found")

	for _, body := range []string{`{"roles":["operator"]}`, `{"roles":["admin"],"disabled":true}`} {
		expect(t, e.do("PUT", "/v1/admin/principals/root", adminToken, body), 409, "last_admin")
	}
	expect(t, e.do("DELETE", "/v1/admin/principals/root", adminToken, nil), 409, "last_admin")
	expect(t, e.do("GET", "/v1/me", adminToken, nil), 200, "")
	second := e.principal("root2", "admin")
	expect(t, e.do("DELETE", "/v1/admin/principals/root", second, nil), 204, "")
	expect(t, e.do("GET", "/v1/me", adminToken, nil), 401, "unauthenticated")
}
