package api_test

import (
	"net/url"
	"testing"

	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// Every malformed cursor of every list is 400 invalid_cursor, never a 500.
func TestMalformedCursors(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	alice := e.principal("alice", "buyer")
	for _, list := range []struct{ path, token string }{
		{"/v1/admin/orgs", adminToken}, {"/v1/admin/principals", adminToken}, {"/v1/admin/audit", adminToken},
		{"/v1/orders", alice}, {"/v1/orders", adminToken},
	} {
		for _, cursor := range []string{"/%", "/%25", "%", "/", "//", "/a//", "/A/", "/a", "a/", "/a/b", "/../", "\x00", "/\x00/",
			"/" + string(rune(0xfffd)) + "/", "-1", "0", "99999999999999999999", "=", "==", "!!", "eyJ9", "a\nb", "é"} {
			r := e.do("GET", list.path+"?cursor="+url.QueryEscape(cursor), list.token, nil)
			if r.status == 200 {
				continue // a cursor that is well formed, for a position past the end
			}
			if r.status != 400 || r.code() != "invalid_cursor" {
				t.Errorf("%s?cursor=%q: %s", list.path, cursor, r)
			}
		}
	}
}
