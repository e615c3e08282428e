package authz

import (
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// maxCachedFilters bounds a policy's filter cache; when it is full the
// cache starts again empty (principals who list often come back at once).
const maxCachedFilters = 10_000

// filterCache remembers the Filters one compiled policy gave. A Filter
// depends only on the principal, the action and the policy — the resource
// is the unknown — so a policy's answers stay right until it is replaced,
// and each compiled policy has its own cache. A policy whose rules call a
// builtin with a changing answer (time.now_ns, http.send, rand.intn, …)
// gets no cache.
type filterCache struct {
	mu sync.Mutex
	m  map[string]Filter
}

func (c *filterCache) get(key string) (Filter, bool) {
	if c == nil {
		return Filter{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.m[key]
	return f, ok
}

func (c *filterCache) put(key string, f Filter) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedFilters {
		clear(c.m)
	}
	c.m[key] = f
}

// filterKey identifies a principal and action; the separator cannot occur
// in the fields the API gives.
func filterKey(p Principal, action string) string {
	var b strings.Builder
	for _, s := range []string{action, p.ID, strings.Join(p.Roles, "\x1f"), p.OrgPath, strings.Join(p.Identities, "\x1f")} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	return b.String()
}

// newFilterCache is a cache for the compiled modules, or nil when one of
// them calls a builtin whose answer may change.
func newFilterCache(c *ast.Compiler) *filterCache {
	if !deterministic(c) {
		return nil
	}
	return &filterCache{m: map[string]Filter{}}
}
