// Package console serves the admin console: a static single-page
// application embedded in the binary and mounted by tmfd under /admin.
//
// The console is a client of the public REST API like any other: it holds
// no server-side logic, reads the caller's bearer token from the browser tab
// and sends it with every request, so it sees and changes exactly what the
// API's authentication and policy allow. The assets are plain HTML, CSS and
// ES modules (no build step), so `go build` needs no Node.js.
//
// Routing inside the console is by URL fragment (#/identities/retail), so
// the only paths under /admin are the embedded files themselves.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the URL path the console is served under. Mount Handler for
// both Prefix and Prefix+"/" (or for every path starting with Prefix).
const Prefix = "/admin"

// ContentSecurityPolicy is sent with every answer. It allows only the
// console's own files and calls to its own origin: no inline script, no
// inline style attribute, no framing.
const ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

//go:embed assets
var assets embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	etag        string // quoted, from the content hash
	contentType string
}

// contentTypes maps the extensions the console uses to their types; the
// platform's MIME table is not consulted so that answers do not depend on
// the machine (some map .js to application/javascript, or to nothing).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".json": "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".md":   "text/markdown; charset=utf-8",
	".txt":  "text/plain; charset=utf-8",
}

// files holds every embedded asset by its path relative to assets/
// ("index.html", "app.js"). Built once: the set never changes at run time.
var files = mustLoad()

func mustLoad() map[string]asset {
	out := map[string]asset{}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		out[strings.TrimPrefix(p, "assets/")] = asset{body: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`,
			contentType: ct}
		return nil
	})
	if err != nil {
		panic("console: embedded assets unreadable: " + err.Error())
	}
	if _, ok := out["index.html"]; !ok {
		panic("console: assets/index.html is missing")
	}
	return out
}

// Handler serves the console. It expects the full request path, starting
// with Prefix: /admin and /admin/ answer index.html, /admin/<file> answers
// the embedded file, anything else 404 (text/plain). Only GET and HEAD are
// allowed (405 otherwise).
//
// Every answer carries the security headers (CSP, nosniff, no referrer,
// no framing). Files are sent with Cache-Control: no-cache and an ETag
// from their content, so a browser revalidates each time (a 304 when
// unchanged) and picks up a new binary's assets at once.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := assetName(r.URL.Path)
	a, found := files[name]
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	// ServeContent answers If-None-Match (304), Range and HEAD; the zero
	// modification time leaves Last-Modified out: the ETag is the validator.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}

// assetName maps a request path to a key of files: "/admin" and "/admin/"
// to index.html, "/admin/x.js" to "x.js". It refuses paths outside the
// prefix and any with an empty, "." or ".." segment.
func assetName(p string) (string, bool) {
	if p == Prefix || p == Prefix+"/" {
		return "index.html", true
	}
	rest, ok := strings.CutPrefix(p, Prefix+"/")
	if !ok {
		return "", false
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", false
		}
	}
	return rest, true
}
