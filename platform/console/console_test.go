package console

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

func TestHandler(t *testing.T) {
	t.Parallel()
	index, err := assets.ReadFile("assets/index.html")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path string
		status             int
		contentType        string // prefix; "" = not checked
		bodyHas            string
	}{
		{"index without slash", http.MethodGet, "/admin", 200, "text/html", "<title>TMF admin console</title>"},
		{"index with slash", http.MethodGet, "/admin/", 200, "text/html", "<title>TMF admin console</title>"},
		{"index by name", http.MethodGet, "/admin/index.html", 200, "text/html", "/admin/app.js"},
		{"module", http.MethodGet, "/admin/app.js", 200, "text/javascript", "hashchange"},
		{"stylesheet", http.MethodGet, "/admin/style.css", 200, "text/css", ":root"},
		{"head", http.MethodHead, "/admin/api.js", 200, "text/javascript", ""},
		{"unknown file", http.MethodGet, "/admin/nope.js", 404, "text/plain", "not found"},
		{"unknown route is not index", http.MethodGet, "/admin/identities/retail", 404, "text/plain", ""},
		{"outside the prefix", http.MethodGet, "/adminx/app.js", 404, "text/plain", ""},
		{"dot dot", http.MethodGet, "/admin/../admin/app.js", 404, "text/plain", ""},
		{"empty segment", http.MethodGet, "/admin//app.js", 404, "text/plain", ""},
		{"post refused", http.MethodPost, "/admin/app.js", 405, "text/plain", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := get(t, tc.method, tc.path, nil)
			if rec.Code != tc.status {
				t.Fatalf("%s %s: status %d, want %d", tc.method, tc.path, rec.Code, tc.status)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type %q, want prefix %q", ct, tc.contentType)
			}
			if !strings.Contains(rec.Body.String(), tc.bodyHas) {
				t.Errorf("body lacks %q", tc.bodyHas)
			}
			h := rec.Header()
			if got := h.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
				t.Errorf("CSP %q", got)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("security headers missing: %v", h)
			}
			if tc.status == 200 {
				if h.Get("Cache-Control") != "no-cache" || !strings.HasPrefix(h.Get("ETag"), `"`) {
					t.Errorf("caching headers: Cache-Control %q ETag %q", h.Get("Cache-Control"), h.Get("ETag"))
				}
			}
			if tc.status == 405 && h.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", h.Get("Allow"))
			}
		})
	}
	if rec := get(t, http.MethodGet, "/admin", nil); rec.Body.String() != string(index) {
		t.Error("/admin does not answer index.html as embedded")
	}
}

func TestConditionalGet(t *testing.T) {
	t.Parallel()
	first := get(t, http.MethodGet, "/admin/app.js", nil)
	etag := first.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	tests := []struct {
		name, ifNoneMatch string
		status            int
	}{
		{"same content", etag, http.StatusNotModified},
		{"changed content", `"0000"`, http.StatusOK},
		{"any", "*", http.StatusNotModified},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := get(t, http.MethodGet, "/admin/app.js", map[string]string{"If-None-Match": tc.ifNoneMatch})
			if rec.Code != tc.status {
				t.Fatalf("If-None-Match %s: status %d, want %d", tc.ifNoneMatch, rec.Code, tc.status)
			}
			if tc.status == http.StatusNotModified && rec.Body.Len() != 0 {
				t.Error("304 with a body")
			}
		})
	}
	// Distinct files have distinct validators: the tag is the content's, not the binary's.
	if other := get(t, http.MethodGet, "/admin/api.js", nil).Header().Get("ETag"); other == etag {
		t.Errorf("app.js and api.js share ETag %s", etag)
	}
}

var (
	// importRe finds static imports and re-exports: import x from './a.js',
	// import './a.js', export { y } from './b.js'.
	importRe = regexp.MustCompile(`(?m)^\s*(?:import\s+(?:[\w*\s{},$]+?\s+from\s+)?|export\s+(?:\*|\{[^}]*\})\s+from\s+)['"]([^'"]+)['"]`)
	// dynamicImportRe would find import('./x.js'): the test wants none, so
	// that importRe sees every module the console loads.
	dynamicImportRe = regexp.MustCompile(`\bimport\s*\(`)
	srcHrefRe       = regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*["']([^"']+)["']`)
)

// TestReferencedAssetsExist checks that every file index.html names and
// every module a module imports is embedded, and that nothing points
// outside the console (no external resource, which the CSP would block).
func TestReferencedAssetsExist(t *testing.T) {
	t.Parallel()
	index := string(files["index.html"].body)
	refs := srcHrefRe.FindAllStringSubmatch(index, -1)
	if len(refs) < 2 {
		t.Fatalf("index.html references %d files; the stylesheet and app.js expected", len(refs))
	}
	queue := []string{}
	for _, m := range refs {
		ref := m[1]
		if strings.HasPrefix(ref, "#") || strings.HasPrefix(ref, "data:") {
			continue
		}
		name, ok := strings.CutPrefix(ref, Prefix+"/")
		if !ok {
			t.Errorf("index.html references %q: not under %s/", ref, Prefix)
			continue
		}
		if _, ok := files[name]; !ok {
			t.Errorf("index.html references %q: not embedded", ref)
		}
		if path.Ext(name) == ".js" {
			queue = append(queue, name)
		}
	}
	seen := map[string]bool{}
	for len(queue) > 0 {
		mod := queue[0]
		queue = queue[1:]
		if seen[mod] {
			continue
		}
		seen[mod] = true
		a, ok := files[mod]
		if !ok {
			t.Errorf("module %s is imported but not embedded", mod)
			continue
		}
		src := string(a.body)
		if dynamicImportRe.MatchString(src) {
			t.Errorf("%s uses a dynamic import; use static imports so this test sees every module", mod)
		}
		for _, m := range importRe.FindAllStringSubmatch(src, -1) {
			spec := m[1]
			if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
				t.Errorf("%s imports %q: only relative imports of embedded modules are allowed", mod, spec)
				continue
			}
			queue = append(queue, path.Clean(path.Join(path.Dir(mod), spec)))
		}
	}
	// Every module shipped is reachable from app.js: none is dead weight.
	for name := range files {
		if path.Ext(name) == ".js" && !seen[name] {
			t.Errorf("%s is embedded but no module imports it", name)
		}
	}
	if !seen["app.js"] || len(seen) < 5 {
		t.Errorf("reached modules %v", seen)
	}
}

// TestNoInlineCode checks the assets against the CSP: no inline script or
// style in index.html, no inline style attribute or event handler in any
// markup (the CSP would silently drop them).
func TestNoInlineCode(t *testing.T) {
	t.Parallel()
	inlineScript := regexp.MustCompile(`(?is)<script\b[^>]*>\s*[^<\s]`)
	styleElem := regexp.MustCompile(`(?i)<style\b`)
	styleAttr := regexp.MustCompile(`(?i)<[a-z][^>]*\sstyle\s*=`)
	handlerAttr := regexp.MustCompile(`(?i)<[a-z][^>]*\son[a-z]+\s*=`)
	jsURL := regexp.MustCompile(`(?i)javascript:`)
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := path.Ext(p)
		if ext != ".html" && ext != ".js" {
			return nil
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		src := string(b)
		checks := map[string]*regexp.Regexp{"style attribute": styleAttr, "inline event handler": handlerAttr,
			"javascript: URL": jsURL, "<style> element": styleElem}
		if ext == ".html" {
			checks["inline script"] = inlineScript
		}
		for what, re := range checks {
			if loc := re.FindStringIndex(src); loc != nil {
				t.Errorf("%s: %s at byte %d: %q", p, what, loc[0], src[loc[0]:min(len(src), loc[1]+20)])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAssetName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"/admin", "index.html", true},
		{"/admin/", "index.html", true},
		{"/admin/app.js", "app.js", true},
		{"/admin/sub/x.js", "sub/x.js", true},
		{"/", "", false},
		{"/administrator", "", false},
		{"/admin/./app.js", "", false},
		{"/admin/a/../app.js", "", false},
		{"/admin/app.js/", "", false},
	}
	for _, tc := range tests {
		got, ok := assetName(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("assetName(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
