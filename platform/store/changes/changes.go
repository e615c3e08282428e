// Package changes keeps in-process caches of rarely written data (the
// catalogue's SKUs and prices, stock locations and their settings)
// coherent across every tmfd process on one database.
//
// A write marks its kind changed in its own transaction (Mark): it bumps
// the kind's row of tmf_cache_versions and, on PostgreSQL, notifies the
// tmf_changes channel, which PostgreSQL delivers when the transaction
// commits. Every process follows the changes (the store's watcher): on
// PostgreSQL by LISTEN, on SQLite and MySQL/MariaDB by reading the
// versions every PollInterval. The process that wrote invalidates at once,
// after its commit. A cache entry remembers the kind's generation from
// before it read the database and is used only while that generation is
// current, so an entry filled from data older than a change is never
// served after the change is seen.
//
// While a process cannot follow changes (the listening connection is
// lost, the versions cannot be read, or no watcher runs) every cache
// misses: a cache is never staler than the bound below.
//
// Bound: a change committed by one process is seen by another within the
// delivery of a notification on PostgreSQL (milliseconds), within
// PollInterval plus one read on SQLite and MySQL/MariaDB.
//
// This package is a leaf: the store and the domain packages both use it.
package changes

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"
)

// Kinds of cached data, each a row of tmf_cache_versions.
const (
	SKUs  = "skus"  // tmf_skus: titles, prices, categories
	Stock = "stock" // stock locations, channel settings and buckets (not quantities)
)

// Kinds lists every kind.
var Kinds = []string{SKUs, Stock}

// Channel is the PostgreSQL notification channel; the payload is
// "kind:version".
const Channel = "tmf_changes"

// Tracker is one process's view of the generations of every kind.
type Tracker struct {
	gens   sync.Map // kind → *atomic.Uint64
	follow atomic.Bool
	// missing counts up while not following, so that Gen never repeats
	missing atomic.Uint64
	caches  sync.Map // name → any (*Cache[V])

	mu  sync.Mutex
	own map[string]map[int64]bool // versions this process wrote, by kind
}

// Own records that this process wrote version v of kind (and invalidated
// it locally after its commit): seeing it again from the database is no
// news.
func (t *Tracker) Own(kind string, v int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.own == nil {
		t.own = map[string]map[int64]bool{}
	}
	if t.own[kind] == nil {
		t.own[kind] = map[int64]bool{}
	}
	if len(t.own[kind]) > 10_000 {
		clear(t.own[kind])
	}
	t.own[kind][v] = true
}

// Seen says that the database holds version v of kind, after version old
// (-1 when none was seen); it invalidates kind unless every version after
// old up to v was this process's own.
func (t *Tracker) Seen(kind string, old, v int64) {
	if old == v {
		return
	}
	t.mu.Lock()
	own := old >= 0 && v > old && v-old <= 1000
	for n := old + 1; own && n <= v; n++ {
		own = t.own[kind][n]
	}
	for n := range t.own[kind] {
		if n <= v {
			delete(t.own[kind], n)
		}
	}
	t.mu.Unlock()
	if !own {
		t.Invalidate(kind)
	}
}

// Notified handles a notification of version v of kind: news unless this
// process wrote it.
func (t *Tracker) Notified(kind string, v int64) {
	t.mu.Lock()
	own := t.own[kind][v]
	delete(t.own[kind], v)
	t.mu.Unlock()
	if !own {
		t.Invalidate(kind)
	}
}

// NewTracker returns a tracker that is not following yet: its caches miss
// until SetFollowing(true).
func NewTracker() *Tracker { return &Tracker{} }

func (t *Tracker) gen(kind string) *atomic.Uint64 {
	if g, ok := t.gens.Load(kind); ok {
		return g.(*atomic.Uint64)
	}
	g, _ := t.gens.LoadOrStore(kind, new(atomic.Uint64))
	return g.(*atomic.Uint64)
}

// Gen is the current generation of kind; ok is false while the tracker
// does not follow changes (nothing may be cached then).
func (t *Tracker) Gen(kind string) (gen uint64, ok bool) {
	if t == nil || !t.follow.Load() {
		return 0, false
	}
	return t.gen(kind).Load(), true
}

// Invalidate makes every entry of kind filled so far stale.
func (t *Tracker) Invalidate(kind string) { t.gen(kind).Add(1) }

// InvalidateAll invalidates every kind.
func (t *Tracker) InvalidateAll() {
	for _, k := range Kinds {
		t.Invalidate(k)
	}
}

// SetFollowing says whether changes of other processes reach the tracker.
// Turning it on invalidates everything (changes may have been missed).
func (t *Tracker) SetFollowing(on bool) {
	if on {
		t.InvalidateAll()
	}
	t.follow.Store(on)
}

// Following reports whether the tracker follows changes.
func (t *Tracker) Following() bool { return t.follow.Load() }

// Holder is what the store's connection pool and its transactions are:
// the way from a gorm handle to its tracker and to the transaction's
// after-commit invalidations.
type Holder interface {
	Changes() *Tracker
	// Changed invalidates kind locally: after the commit when inside a
	// transaction, at once otherwise.
	Changed(kind string)
	// Own records version v of kind as written by this process (after the
	// commit when inside a transaction).
	Own(kind string, v int64)
	// InTx reports whether the handle is a transaction.
	InTx() bool
	// Marked reports whether the handle is a transaction that marked a
	// change: it reads its own writes, so it uses no cache.
	Marked() bool
}

// Of is the tracker of a gorm handle of the store, nil for another one.
func Of(db *gorm.DB) *Tracker {
	if db == nil || db.Statement == nil {
		return nil
	}
	if h, ok := db.Statement.ConnPool.(Holder); ok {
		return h.Changes()
	}
	return nil
}

// Readable is the tracker of a gorm handle of the store unless the handle
// is a transaction that marked a change (it must read its own writes),
// else nil (a nil tracker's caches always load).
func Readable(db *gorm.DB) *Tracker {
	if db == nil || db.Statement == nil {
		return nil
	}
	if h, ok := db.Statement.ConnPool.(Holder); ok && !h.Marked() {
		return h.Changes()
	}
	return nil
}

// Mark records, in the transaction tx (or as its own statements), that
// kind changed: its version row is bumped, other processes are notified
// (PostgreSQL), and this process invalidates kind when tx commits.
//
// A handle that is not the store's (no caches) marks nothing.
func Mark(tx *gorm.DB, kind string) error {
	h, ok := tx.Statement.ConnPool.(Holder)
	if !ok {
		return nil
	}
	var v int64
	switch tx.Dialector.Name() {
	case "mysql": // no UPDATE … RETURNING
		res := tx.Exec("UPDATE tmf_cache_versions SET version = version + 1 WHERE kind = ?", kind)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			if err := tx.Raw("SELECT version FROM tmf_cache_versions WHERE kind = ?", kind).Scan(&v).Error; err != nil {
				return err
			}
		}
	default:
		var vs []int64
		if err := tx.Raw("UPDATE tmf_cache_versions SET version = version + 1 WHERE kind = ? RETURNING version", kind).Scan(&vs).Error; err != nil {
			return err
		}
		if len(vs) == 1 {
			v = vs[0]
		}
	}
	if v == 0 { // the migration seeds every kind; a kind added since
		v = 1
		if err := tx.Exec("INSERT INTO tmf_cache_versions (kind, version) VALUES (?, 1)", kind).Error; err != nil {
			return err
		}
	}
	if tx.Dialector.Name() == "postgres" {
		if err := tx.Exec("SELECT pg_notify(?, ?)", Channel, kind+":"+strconv.FormatInt(v, 10)).Error; err != nil {
			return err
		}
	}
	h.Own(kind, v)
	h.Changed(kind)
	return nil
}

// Version is a row of tmf_cache_versions.
type Version struct {
	Kind    string `gorm:"primaryKey;size:32"`
	Version int64  `gorm:"not null;default:0"`
}

// TableName is tmf_cache_versions.
func (Version) TableName() string { return "tmf_cache_versions" }

// Cache holds values of one kind by key, valid while the kind's
// generation is the one read before the value was loaded.
type Cache[V any] struct {
	t    *Tracker
	kind string
	mu   sync.RWMutex
	m    map[string]entry[V]
	max  int
}

type entry[V any] struct {
	gen uint64
	v   V
}

// CacheOf is the tracker's cache called name (one per name, created on
// first use) of kind, holding at most max entries (it is emptied when
// full). Nil when t is nil.
func CacheOf[V any](t *Tracker, name, kind string, max int) *Cache[V] {
	if t == nil {
		return nil
	}
	if c, ok := t.caches.Load(name); ok {
		return c.(*Cache[V])
	}
	c, _ := t.caches.LoadOrStore(name, &Cache[V]{t: t, kind: kind, m: map[string]entry[V]{}, max: max})
	return c.(*Cache[V])
}

// Get returns the value of key, loading it when absent or stale. A nil
// cache always loads.
func (c *Cache[V]) Get(key string, load func() (V, error)) (V, error) {
	if c == nil {
		return load()
	}
	gen, ok := c.t.Gen(c.kind)
	if !ok {
		return load()
	}
	c.mu.RLock()
	e, hit := c.m[key]
	c.mu.RUnlock()
	if hit && e.gen == gen {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[key] = entry[V]{gen: gen, v: v}
	c.mu.Unlock()
	return v, nil
}

// Snapshot is the cache's generation before a load: entries filled with
// it are valid while it is current. ok is false when nothing may be
// cached (see Tracker.Gen).
func (c *Cache[V]) Snapshot() (gen uint64, ok bool) {
	if c == nil {
		return 0, false
	}
	return c.t.Gen(c.kind)
}

// Lookup returns the value of key when it is cached and current.
func (c *Cache[V]) Lookup(key string) (v V, hit bool) {
	gen, ok := c.Snapshot()
	if !ok {
		return v, false
	}
	c.mu.RLock()
	e, found := c.m[key]
	c.mu.RUnlock()
	if !found || e.gen != gen {
		return v, false
	}
	return e.v, true
}

// Fill caches v for key, loaded after Snapshot returned gen.
func (c *Cache[V]) Fill(gen uint64, key string, v V) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[key] = entry[V]{gen: gen, v: v}
	c.mu.Unlock()
}

// ParsePayload splits a notification's payload "kind:version"; a payload
// without a version gives -1.
func ParsePayload(p string) (kind string, v int64) {
	kind, ver, ok := strings.Cut(p, ":")
	if !ok {
		return p, -1
	}
	n, err := strconv.ParseInt(ver, 10, 64)
	if err != nil {
		return kind, -1
	}
	return kind, n
}

// Epoch changes whenever any kind is invalidated or following stops: a
// measurement that must see warm caches checks it did not change.
func (t *Tracker) Epoch() uint64 {
	var sum uint64
	for _, k := range Kinds {
		sum += t.gen(k).Load()
	}
	if !t.follow.Load() {
		sum += 1 << 62
	}
	return sum
}
