package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// fakeSince is when every fake bizpack's status last changed, in a zone
// that is not UTC so that the API's conversion shows.
var fakeSince = time.Date(2026, 3, 1, 16, 0, 0, 0, time.FixedZone("CST", 8*3600))

// goodSHA is a well-formed checksum; the fake does not verify checksums.
var goodSHA = strings.Repeat("9f86d081", 8)

// fakePack is one bizpack of fakeBizpacks.
type fakePack struct {
	active, standby string
	// inProcess bizpacks run inside the server: listed, but unknown to the
	// host's Reload and Rollback, as with bizpackhost.Host.
	inProcess bool
	// refuse is the host's message for every reload of this bizpack.
	refuse string
	// stuck bizpacks refuse a rollback for another reason than a missing
	// standby (the configuration does not compile with it).
	stuck bool
}

// fakeLoad is a Reload the fake accepted or refused (unknown names are not
// recorded).
type fakeLoad struct{ name, path, sha256 string }

// fakeBizpacks stands in for bizpackhost.Host, answering with the host's
// typed errors: ErrUnknown for a bizpack it does not run, ErrNoPrevious for
// a rollback without a standby, and plain errors for refusals. A reload of
// path /x/<name>-<version> puts <version> in force; a reload of the
// configured binary restarts the version in force.
type fakeBizpacks struct {
	mu        sync.Mutex
	packs     map[string]*fakePack
	loads     []fakeLoad
	rollbacks []string
}

func newFakeBizpacks() *fakeBizpacks {
	f := &fakeBizpacks{}
	f.reset()
	return f
}

// reset puts the fake back to its first state:
// virtual-topup 1.3.0 with standby 1.2.0, flash-sale 2.0.0 without one,
// broken (every reload refused), pinned (its rollback refused) and the
// in-process faulty.
func (f *fakeBizpacks) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.packs = map[string]*fakePack{
		"virtual-topup": {active: "1.3.0", standby: "1.2.0"},
		"flash-sale":    {active: "2.0.0"},
		"broken": {active: "0.9.0", refuse: "bizpack broken (/opt/tmf/broken): checksum of the binary does not match " +
			"the configured sha256"},
		"pinned": {active: "1.1.0", standby: "1.0.0", stuck: true},
		"faulty": {active: "1", inProcess: true},
	}
	f.loads, f.rollbacks = nil, nil
}

func (f *fakeBizpacks) calls() ([]fakeLoad, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.loads), slices.Clone(f.rollbacks)
}

func (f *fakeBizpacks) States() []kernel.BizpackState {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.packs))
	for n := range f.packs {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]kernel.BizpackState, 0, len(names))
	for i, n := range names {
		p := f.packs[n]
		if p.inProcess {
			out = append(out, kernel.BizpackState{Name: n, Version: p.active, Status: "in-process", Breaker: "closed",
				Points: []kernel.PointLatency{{Point: "order.validate"}}})
			continue
		}
		out = append(out, kernel.BizpackState{Name: n, Version: p.active, Status: "running", Breaker: "closed",
			Restarts: i, Pid: 4000 + i, RoundTrips: 100, Since: fakeSince, Standby: p.standby,
			Points: []kernel.PointLatency{
				{Point: "order.validate", Calls: 100, Failures: 2, P50: 1500 * time.Microsecond, P99: 12 * time.Millisecond},
				{Point: "pricing.adjust", Calls: 100, P50: 700 * time.Nanosecond, P99: 2499 * time.Nanosecond},
			}})
	}
	return out
}

func (f *fakeBizpacks) Reload(_ context.Context, name, path, sha256 string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.packs[name]
	if !ok || p.inProcess {
		return "", fmt.Errorf("bizpack %q: %w", name, bizpackhost.ErrUnknown)
	}
	f.loads = append(f.loads, fakeLoad{name, path, sha256})
	if p.refuse != "" {
		return "", errors.New(p.refuse)
	}
	version := p.active
	if path != "" {
		version = strings.TrimPrefix(filepath.Base(path), name+"-")
	}
	p.active, p.standby = version, p.active
	return version, nil
}

func (f *fakeBizpacks) Rollback(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.packs[name]
	if !ok || p.inProcess {
		return "", fmt.Errorf("bizpack %q: %w", name, bizpackhost.ErrUnknown)
	}
	f.rollbacks = append(f.rollbacks, name)
	switch {
	case p.standby == "":
		return "", fmt.Errorf("bizpack %s: %w", name, bizpackhost.ErrNoPrevious)
	case p.stuck:
		return "", fmt.Errorf("rolling back bizpack %s: %w", name, errors.New("configuration revision 1 does not compile: "+
			"identity b2b: point order.guard: bizpack pinned 1.0.0 does not implement it"))
	}
	p.active, p.standby = p.standby, p.active
	return p.active, nil
}

var _ api.Bizpacks = (*fakeBizpacks)(nil)

// withBizpacks wires a plugin host into the env's server.
func withBizpacks(b api.Bizpacks) func(*api.Config) {
	return func(c *api.Config) { c.Bizpacks = b }
}

// withUploads keeps uploaded bizpack binaries in dir, at most max bytes
// each (0: the default).
func withUploads(dir string, max int64) func(*api.Config) {
	return func(c *api.Config) { c.BizpackUploads, c.MaxBizpackBytes = dir, max }
}

// sameJSON fails unless got and want hold the same JSON value.
func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("answer %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// The list shows the host's states in the API's view: since in UTC,
// latencies in whole microseconds (rounded), pid and since absent for an
// in-process bizpack; without a host it is empty, not null.
func TestBizpackList(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	with := newEnv(t, st, withBizpacks(newFakeBizpacks()))
	running := func(name, version, standby string, i int) string {
		s := fmt.Sprintf(`{"name":%q,"version":%q,"status":"running","breaker":"closed","restarts":%d,"pid":%d,"roundTrips":100,`+
			`"since":"2026-03-01T08:00:00Z",`, name, version, i, 4000+i)
		if standby != "" {
			s += fmt.Sprintf(`"standby":%q,`, standby)
		}
		return s + `"points":[{"point":"order.validate","calls":100,"failures":2,"p50Micros":1500,"p99Micros":12000},` +
			`{"point":"pricing.adjust","calls":100,"failures":0,"p50Micros":1,"p99Micros":2}]}`
	}
	tests := []struct {
		name string
		e    *env
		want string
	}{
		{"with a host", with, `{"items":[` + running("broken", "0.9.0", "", 0) + `,` +
			`{"name":"faulty","version":"1","status":"in-process","breaker":"closed","restarts":0,"roundTrips":0,` +
			`"points":[{"point":"order.validate","calls":0,"failures":0,"p50Micros":0,"p99Micros":0}]},` +
			running("flash-sale", "2.0.0", "", 2) + `,` + running("pinned", "1.1.0", "1.0.0", 3) + `,` +
			running("virtual-topup", "1.3.0", "1.2.0", 4) + `]}`},
		{"without a host", nil, `{"items":[]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.e
			if e == nil {
				e = newEnv(t, storetest.Open(t, "sqlite"))
			}
			e = e.with(t)
			r := e.do("GET", "/v1/admin/bizpacks", adminToken, nil)
			expect(t, r, 200, "")
			sameJSON(t, r.raw, tc.want)
		})
	}
}

// Reload passes the body's binary to the host and answers the version in
// force; the body is checked strictly before the host is asked, and the
// host's refusals become stable codes.
func TestBizpackReload(t *testing.T) {
	fake := newFakeBizpacks()
	e := newEnv(t, storetest.Open(t, "sqlite"), withBizpacks(fake))
	bare := newEnv(t, storetest.Open(t, "sqlite"))
	tests := []struct {
		name    string
		noHost  bool
		bizpack string
		body    any // nil: no body
		headers []string
		status  int
		code    string
		version string    // of a success
		field   string    // the problem's field
		detail  string    // in the problem's detail
		load    *fakeLoad // the call the host saw; nil: none
	}{
		{name: "configured binary, no body", bizpack: "virtual-topup", status: 200, version: "1.3.0",
			load: &fakeLoad{"virtual-topup", "", ""}},
		{name: "configured binary, empty object", bizpack: "flash-sale", body: `{}`, status: 200, version: "2.0.0",
			load: &fakeLoad{"flash-sale", "", ""}},
		{name: "new binary", bizpack: "virtual-topup", body: `{"path":"/opt/tmf/virtual-topup-1.4.0","sha256":"` + goodSHA + `"}`,
			status: 200, version: "1.4.0", load: &fakeLoad{"virtual-topup", "/opt/tmf/virtual-topup-1.4.0", goodSHA}},
		{name: "upper-case checksum", bizpack: "flash-sale", body: `{"path":"/opt/tmf/flash-sale-2.1.0","sha256":"` +
			strings.ToUpper(goodSHA) + `"}`, status: 200, version: "2.1.0",
			load: &fakeLoad{"flash-sale", "/opt/tmf/flash-sale-2.1.0", strings.ToUpper(goodSHA)}},
		{name: "unknown bizpack", bizpack: "ghost", status: 404, code: "bizpack_not_found", detail: `"ghost"`},
		{name: "in-process bizpack", bizpack: "faulty", status: 404, code: "bizpack_not_found"},
		{name: "refused by the host", bizpack: "broken", body: `{"path":"/opt/tmf/broken","sha256":"` + goodSHA + `"}`,
			status: 422, code: "bizpack_refused", detail: "checksum of the binary does not match the configured sha256",
			load: &fakeLoad{"broken", "/opt/tmf/broken", goodSHA}},
		{name: "short checksum", bizpack: "virtual-topup", body: `{"path":"/x/virtual-topup-9","sha256":"` + goodSHA[1:] + `"}`,
			status: 400, code: "invalid_request", field: "sha256"},
		{name: "checksum not hex", bizpack: "virtual-topup", body: `{"path":"/x/virtual-topup-9","sha256":"` +
			strings.Repeat("g", 64) + `"}`, status: 400, code: "invalid_request", field: "sha256"},
		{name: "path without checksum", bizpack: "virtual-topup", body: `{"path":"/x/virtual-topup-9"}`,
			status: 400, code: "invalid_request", field: "sha256"},
		// A checksum alone names an uploaded binary; this server keeps none.
		{name: "checksum of no upload", bizpack: "virtual-topup", body: `{"sha256":"` + goodSHA + `"}`,
			status: 400, code: "invalid_request", field: "sha256", detail: "upload it first"},
		{name: "unknown field", bizpack: "virtual-topup", body: `{"path":"/x/virtual-topup-9","sha256":"` + goodSHA + `","force":true}`,
			status: 400, code: "unknown_field", field: "force"},
		{name: "path of the wrong type", bizpack: "virtual-topup", body: `{"path":7,"sha256":"` + goodSHA + `"}`,
			status: 400, code: "invalid_type", field: "path"},
		{name: "malformed body", bizpack: "virtual-topup", body: `{"path":`, status: 400, code: "malformed_json"},
		{name: "not JSON", bizpack: "virtual-topup", body: `path=/x`, headers: []string{"Content-Type", "text/plain"},
			status: 415, code: "unsupported_media_type"},
		{name: "no host", noHost: true, bizpack: "virtual-topup", status: 404, code: "bizpack_not_found"},
		{name: "no host, bad body first", noHost: true, bizpack: "virtual-topup", body: `{"sha256":"abc","path":"/x"}`,
			status: 400, code: "invalid_request", field: "sha256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake.reset()
			e := e.with(t)
			if tc.noHost {
				e = bare.with(t)
			}
			r := e.do("POST", "/v1/admin/bizpacks/"+tc.bizpack+"/reload", adminToken, tc.body, tc.headers...)
			expect(t, r, tc.status, tc.code)
			if tc.status == 200 {
				sameJSON(t, r.raw, fmt.Sprintf(`{"name":%q,"version":%q}`, tc.bizpack, tc.version))
			} else {
				p := r.json(t)
				if tc.field != "" && p["field"] != tc.field {
					t.Errorf("field %v; want %s in %s", p["field"], tc.field, r)
				}
				if !strings.Contains(p["detail"].(string), tc.detail) {
					t.Errorf("detail %q lacks %q", p["detail"], tc.detail)
				}
				if strings.HasPrefix(tc.code, "bizpack_") && p["bizpack"] != tc.bizpack {
					t.Errorf("bizpack %v; want %s in %s", p["bizpack"], tc.bizpack, r)
				}
			}
			loads, _ := fake.calls()
			var want []fakeLoad
			if tc.load != nil {
				want = []fakeLoad{*tc.load}
			}
			if !slices.Equal(loads, want) {
				t.Fatalf("the host saw %+v; want %+v", loads, want)
			}
		})
	}
	// A reload's version is the one the list shows in force, with the
	// replaced one as its standby.
	fake.reset()
	expect(t, e.do("POST", "/v1/admin/bizpacks/virtual-topup/reload", adminToken,
		`{"path":"/opt/tmf/virtual-topup-1.4.0","sha256":"`+goodSHA+`"}`), 200, "")
	list := decodeJSON[api.BizpackList](t, e.do("GET", "/v1/admin/bizpacks", adminToken, nil))
	i := slices.IndexFunc(list.Items, func(b api.BizpackView) bool { return b.Name == "virtual-topup" })
	if i < 0 || list.Items[i].Version != "1.4.0" || list.Items[i].Standby != "1.3.0" {
		t.Fatalf("after the reload: %+v", list.Items)
	}
}

// Rollback answers the version put back in force; a second rollback
// undoes the first; the host's refusals become stable codes.
func TestBizpackRollback(t *testing.T) {
	fake := newFakeBizpacks()
	e := newEnv(t, storetest.Open(t, "sqlite"), withBizpacks(fake))
	bare := newEnv(t, storetest.Open(t, "sqlite"))
	tests := []struct {
		name     string
		noHost   bool
		bizpack  string
		status   int
		code     string
		versions []string // in force after each of len(versions) rollbacks, for a success
		detail   string
	}{
		{name: "back to the standby", bizpack: "virtual-topup", status: 200, versions: []string{"1.2.0"}},
		{name: "a second rollback undoes the first", bizpack: "virtual-topup", status: 200, versions: []string{"1.2.0", "1.3.0"}},
		{name: "unknown bizpack", bizpack: "ghost", status: 404, code: "bizpack_not_found", detail: `"ghost"`},
		{name: "in-process bizpack", bizpack: "faulty", status: 404, code: "bizpack_not_found"},
		{name: "no previous version", bizpack: "flash-sale", status: 409, code: "bizpack_no_previous",
			detail: "no previous version"},
		{name: "refused by the configuration", bizpack: "pinned", status: 422, code: "bizpack_refused",
			detail: "does not implement it"},
		{name: "no host", noHost: true, bizpack: "virtual-topup", status: 404, code: "bizpack_not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake.reset()
			e := e.with(t)
			if tc.noHost {
				e = bare.with(t)
			}
			rollback := func() reply {
				return e.do("POST", "/v1/admin/bizpacks/"+tc.bizpack+"/rollback", adminToken, nil)
			}
			if tc.status == 200 {
				for _, v := range tc.versions {
					r := rollback()
					expect(t, r, 200, "")
					sameJSON(t, r.raw, fmt.Sprintf(`{"name":%q,"version":%q}`, tc.bizpack, v))
				}
				return
			}
			r := rollback()
			expect(t, r, tc.status, tc.code)
			p := r.json(t)
			if !strings.Contains(p["detail"].(string), tc.detail) {
				t.Errorf("detail %q lacks %q", p["detail"], tc.detail)
			}
			if p["bizpack"] != tc.bizpack {
				t.Errorf("bizpack %v; want %s in %s", p["bizpack"], tc.bizpack, r)
			}
		})
	}
}

// The bizpack endpoints are the administrator's: no token is 401, any
// other role 403, and the host is never asked.
func TestBizpackEndpointsAreAdminOnly(t *testing.T) {
	fake := newFakeBizpacks()
	e := newEnv(t, storetest.Open(t, "sqlite"), withBizpacks(fake))
	ops, alice := e.principal("ops", "operator"), e.principal("alice", "buyer")
	endpoints := []struct{ method, path, body string }{
		{"GET", "/v1/admin/bizpacks", ""},
		{"POST", "/v1/admin/bizpacks/virtual-topup/reload", `{"path":"/x/virtual-topup-6.6.6","sha256":"` + goodSHA + `"}`},
		{"POST", "/v1/admin/bizpacks/virtual-topup/rollback", ""},
	}
	callers := []struct {
		name, token string
		status      int
		code        string
	}{
		{"no token", "", 401, "unauthenticated"},
		{"unknown token", "not-a-token", 401, "unauthenticated"},
		{"operator", ops, 403, "forbidden"},
		{"buyer", alice, 403, "forbidden"},
	}
	for _, ep := range endpoints {
		for _, c := range callers {
			t.Run(ep.method+" "+ep.path+" "+c.name, func(t *testing.T) {
				var body any
				if ep.body != "" {
					body = ep.body
				}
				expect(t, e.with(t).do(ep.method, ep.path, c.token, body), c.status, c.code)
			})
		}
	}
	if loads, rollbacks := fake.calls(); len(loads) != 0 || len(rollbacks) != 0 {
		t.Fatalf("the host was asked: reloads %+v, rollbacks %v", loads, rollbacks)
	}
}

// sha256Hex is the SHA-256 of b in hex.
func sha256Hex(b string) string {
	sum := sha256.Sum256([]byte(b))
	return hex.EncodeToString(sum[:])
}

// filesUnder lists the regular files under dir, relative, sorted.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// hiddenLength hides a reader's length, so that it is sent chunked.
type hiddenLength struct{ r io.Reader }

func (h hiddenLength) Read(p []byte) (int, error) { return h.r.Read(p) }

// An upload is kept whole under its SHA-256 in the bizpack's directory,
// executable, or not at all: a refused or cut-off upload leaves no file.
// Only running bizpacks take uploads, only as application/octet-stream.
func TestBizpackUpload(t *testing.T) {
	dir := t.TempDir()
	fake := newFakeBizpacks()
	e := newEnv(t, storetest.Open(t, "sqlite"), withBizpacks(fake), withUploads(dir, 64))
	noDir := newEnv(t, storetest.Open(t, "sqlite"), withBizpacks(fake))
	noHost := newEnv(t, storetest.Open(t, "sqlite"), withUploads(t.TempDir(), 64))
	const binary = "\x7fELF\x02\x01\x01 a new build of virtual-topup"
	sum := sha256Hex(binary)
	octet := []string{"Content-Type", "application/octet-stream"}
	checked := func(sha string) []string { return append(slices.Clone(octet), "X-Content-SHA256", sha) }
	tests := []struct {
		name    string
		e       *env
		bizpack string
		body    any
		headers []string
		status  int
		code    string
		field   string // of the problem
	}{
		{name: "kept", e: e, bizpack: "virtual-topup", body: binary, headers: octet, status: 201},
		{name: "checked", e: e, bizpack: "virtual-topup", body: binary, headers: checked(sum), status: 201},
		{name: "checked, upper-case", e: e, bizpack: "virtual-topup", body: binary, headers: checked(strings.ToUpper(sum)), status: 201},
		{name: "chunked", e: e, bizpack: "virtual-topup", body: hiddenLength{strings.NewReader(binary)}, headers: octet, status: 201},
		{name: "damaged on the way", e: e, bizpack: "virtual-topup", body: binary, headers: checked(goodSHA), status: 400,
			code: "bizpack_upload_invalid"},
		{name: "malformed checksum", e: e, bizpack: "virtual-topup", body: binary, headers: checked("abc"), status: 400,
			code: "invalid_request", field: "X-Content-SHA256"},
		{name: "empty", e: e, bizpack: "virtual-topup", body: "", headers: octet, status: 400, code: "bizpack_upload_invalid"},
		{name: "no body", e: e, bizpack: "virtual-topup", headers: octet, status: 400, code: "bizpack_upload_invalid"},
		{name: "too large", e: e, bizpack: "virtual-topup", body: binary + strings.Repeat("x", 64), headers: octet, status: 413,
			code: "body_too_large"},
		{name: "too large, chunked", e: e, bizpack: "virtual-topup", body: hiddenLength{strings.NewReader(binary + strings.Repeat("x", 64))},
			headers: octet, status: 413, code: "body_too_large"},
		{name: "JSON", e: e, bizpack: "virtual-topup", body: `{"binary":"AAAA"}`, status: 415, code: "unsupported_media_type"},
		{name: "no content type", e: e, bizpack: "virtual-topup", body: binary, headers: []string{"Content-Type", ""}, status: 415,
			code: "unsupported_media_type"},
		{name: "unknown bizpack", e: e, bizpack: "ghost", body: binary, headers: octet, status: 404, code: "bizpack_not_found"},
		{name: "not a bizpack name", e: e, bizpack: "Virtual_Topup", body: binary, headers: octet, status: 404, code: "bizpack_not_found"},
		{name: "server keeps no uploads", e: noDir, bizpack: "virtual-topup", body: binary, headers: octet, status: 400,
			code: "bizpack_upload_invalid"},
		{name: "server runs no bizpacks", e: noHost, bizpack: "virtual-topup", body: binary, headers: octet, status: 404,
			code: "bizpack_not_found"},
	}
	uploads := 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			r := tc.e.with(t).do("PUT", "/v1/admin/bizpacks/"+tc.bizpack+"/binaries", adminToken, tc.body, tc.headers...)
			expect(t, r, tc.status, tc.code)
			files := filesUnder(t, dir)
			if tc.status != 201 {
				if tc.field != "" && r.json(t)["field"] != tc.field {
					t.Errorf("field %v; want %s", r.json(t)["field"], tc.field)
				}
				if len(files) != 0 {
					t.Fatalf("a refused upload left %v", files)
				}
				return
			}
			uploads++
			sameJSON(t, r.raw, fmt.Sprintf(`{"name":"virtual-topup","sha256":%q,"size":%d}`, sum, len(binary)))
			if want := []string{filepath.Join("virtual-topup", sum)}; !slices.Equal(files, want) {
				t.Fatalf("files %v; want %v", files, want)
			}
			path := filepath.Join(dir, "virtual-topup", sum)
			got, err := os.ReadFile(path)
			if err != nil || string(got) != binary {
				t.Fatalf("kept %q (%v)", got, err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o100 == 0 {
				t.Fatalf("the kept binary is not executable: %v %v", fi.Mode(), err)
			}
		})
	}
	// A refused upload naming what was received.
	r := e.do("PUT", "/v1/admin/bizpacks/virtual-topup/binaries", adminToken, binary, checked(goodSHA)...)
	expect(t, r, 400, "bizpack_upload_invalid")
	if r.json(t)["sha256"] != sum {
		t.Errorf("the refusal does not name the checksum received: %s", r)
	}
	// Every upload kept is audited; the host is never asked.
	var audited int
	for _, a := range e.auditTrail("bizpack", "virtual-topup") {
		var after api.BizpackUpload
		if err := json.Unmarshal(a.After, &after); err != nil {
			t.Fatal(err)
		}
		if a.Verb != "upload" || string(a.Before) != "null" || after != (api.BizpackUpload{Name: "virtual-topup", SHA256: sum, Size: int64(len(binary))}) {
			t.Errorf("audit entry %+v", a)
		}
		audited++
	}
	if audited != uploads || uploads != 4 {
		t.Errorf("%d uploads kept, %d audited", uploads, audited)
	}
	if loads, rollbacks := fake.calls(); len(loads)+len(rollbacks) != 0 {
		t.Errorf("an upload asked the host: %v %v", loads, rollbacks)
	}
}

// An uploaded binary is put in force by its checksum alone: the host gets
// its path in the uploads directory. The reload and a rollback are audited
// with the versions before and after; a refused reload is not.
func TestBizpackReloadUploaded(t *testing.T) {
	dir := t.TempDir()
	fake := newFakeBizpacks()
	e := newEnv(t, storetest.Open(t, "sqlite"), withBizpacks(fake), withUploads(dir, 0))
	const binary = "virtual-topup, build 1.4.0"
	r := e.do("PUT", "/v1/admin/bizpacks/virtual-topup/binaries", adminToken, binary, "Content-Type", "application/octet-stream")
	expect(t, r, 201, "")
	sum := decodeJSON[api.BizpackUpload](t, r).SHA256

	// Another bizpack's upload is not this one's.
	r = e.do("POST", "/v1/admin/bizpacks/flash-sale/reload", adminToken, map[string]string{"sha256": sum})
	expect(t, r, 400, "invalid_request")
	if r.json(t)["field"] != "sha256" {
		t.Errorf("%s", r)
	}
	if loads, _ := fake.calls(); len(loads) != 0 {
		t.Fatalf("the host was asked: %v", loads)
	}

	r = e.do("POST", "/v1/admin/bizpacks/virtual-topup/reload", adminToken, map[string]string{"sha256": strings.ToUpper(sum)})
	expect(t, r, 200, "")
	// The fake names the version after the file: the checksum.
	sameJSON(t, r.raw, fmt.Sprintf(`{"name":"virtual-topup","version":%q}`, sum))
	loads, _ := fake.calls()
	if want := []fakeLoad{{"virtual-topup", filepath.Join(dir, "virtual-topup", sum), strings.ToUpper(sum)}}; !slices.Equal(loads, want) {
		t.Fatalf("the host saw %+v; want %+v", loads, want)
	}
	expect(t, e.do("POST", "/v1/admin/bizpacks/virtual-topup/rollback", adminToken, nil), 200, "")
	expect(t, e.do("POST", "/v1/admin/bizpacks/broken/reload", adminToken, nil), 422, "bizpack_refused")
	expect(t, e.do("POST", "/v1/admin/bizpacks/flash-sale/rollback", adminToken, nil), 409, "bizpack_no_previous")

	type versions struct{ Version, Standby, Status string }
	entries := e.auditTrail("bizpack", "")
	want := []struct {
		verb, target  string
		before, after *versions
	}{
		{"rollback", "virtual-topup", &versions{sum, "1.3.0", "running"}, &versions{"1.3.0", sum, "running"}},
		{"reload", "virtual-topup", &versions{"1.3.0", "1.2.0", "running"}, &versions{sum, "1.3.0", "running"}},
		{"upload", "virtual-topup", nil, nil},
	}
	if len(entries) != len(want) {
		t.Fatalf("audit entries %+v", entries)
	}
	for i, w := range want {
		got := entries[i]
		if got.Verb != w.verb || got.TargetID != w.target || got.Action != "admin.bizpacks.write" || got.Actor != "root" {
			t.Errorf("entry %d: %+v", i, got)
		}
		if w.before == nil {
			continue
		}
		var before, after versions
		if err := json.Unmarshal(got.Before, &before); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got.After, &after); err != nil {
			t.Fatal(err)
		}
		if before != *w.before || after != *w.after {
			t.Errorf("entry %d (%s): before %+v after %+v; want %+v %+v", i, w.verb, before, after, *w.before, *w.after)
		}
	}
}
