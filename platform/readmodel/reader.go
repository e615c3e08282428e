package readmodel

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Level names where a multi-level read was answered.
type Level string

// Levels of a read by id, in the order they are tried.
const (
	LevelCache     Level = "cache"
	LevelReadModel Level = "readmodel"
	LevelStore     Level = "store"
)

// ReaderOptions configure a Reader.
type ReaderOptions struct {
	// CacheSize bounds the in-process cache (entries; default 10,000; 0
	// or less with NoCache: no cache).
	CacheSize int
	NoCache   bool
	// TTL of a cached order (default 2s): the most a cached answer can lag
	// behind writes made on other nodes whose events this node has not
	// seen yet.
	TTL time.Duration
	// ReadModelShare is the fraction of the time left before the
	// request's deadline the read model may take (default 0.3), and
	// ReadModelMax its upper bound (default 100ms); the store gets the
	// rest. Without a deadline the read model gets ReadModelMax.
	ReadModelShare float64
	ReadModelMax   time.Duration
	Clock          func() time.Time
}

// Reader reads an order by id level by level, as reference 000's gateway
// does: the in-process cache, then the read model, then the order store
// that owns it, each within its slice of the request's deadline. A level
// that errs, times out or does not hold the order falls to the next, and
// the answer back-fills the levels above it (the read model by a
// version-guarded upsert, in the background).
type Reader struct {
	rm    *Model // nil: no read model
	src   Source
	met   *Metrics
	o     ReaderOptions
	cache *lru
	// backfills bounds the background back-fills of the read model.
	backfills chan struct{}
}

// NewReader makes a reader over the read model (nil for none) and the
// order store.
func NewReader(rm *Model, src Source, met *Metrics, o ReaderOptions) *Reader {
	if o.CacheSize <= 0 {
		o.CacheSize = 10_000
	}
	if o.TTL <= 0 {
		o.TTL = 2 * time.Second
	}
	if o.ReadModelShare <= 0 || o.ReadModelShare >= 1 {
		o.ReadModelShare = 0.3
	}
	if o.ReadModelMax <= 0 {
		o.ReadModelMax = 100 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if met == nil {
		met = NewMetrics()
	}
	r := &Reader{rm: rm, src: src, met: met, o: o, backfills: make(chan struct{}, 4)}
	if !o.NoCache {
		r.cache = newLRU(o.CacheSize)
	}
	return r
}

// Get reads an order by id: ErrNotFound when no level holds it, else the
// snapshot and the level that answered. An error is returned only when the
// store, the last level, fails.
func (r *Reader) Get(ctx context.Context, id string) (Snapshot, Level, error) {
	var gen uint64
	if r.cache != nil {
		var s Snapshot
		var ok bool
		s, ok, gen = r.cache.get(id, r.o.Clock())
		if ok {
			r.met.Reads.WithLabelValues(string(LevelCache)).Inc()
			return s, LevelCache, nil
		}
	}
	if r.rm != nil {
		budget := r.o.ReadModelMax
		if dl, ok := ctx.Deadline(); ok {
			budget = min(budget, time.Duration(float64(time.Until(dl))*r.o.ReadModelShare))
		}
		if budget > 0 {
			rctx, cancel := context.WithTimeout(ctx, budget)
			h, err := r.rm.Get(rctx, id)
			cancel()
			if err == nil {
				r.put(h.Snapshot, gen)
				r.met.Reads.WithLabelValues(string(LevelReadModel)).Inc()
				return h.Snapshot, LevelReadModel, nil
			}
		}
	}
	snaps, err := r.src.Fetch(ctx, []string{id})
	if err != nil {
		return Snapshot{}, "", err
	}
	if len(snaps) == 0 {
		return Snapshot{}, "", ErrNotFound
	}
	s := snaps[0]
	r.put(s, gen)
	r.backfill(s)
	r.met.Reads.WithLabelValues(string(LevelStore)).Inc()
	return s, LevelStore, nil
}

func (r *Reader) put(s Snapshot, gen uint64) {
	if r.cache != nil {
		r.cache.put(s, gen, r.o.Clock().Add(r.o.TTL))
	}
}

// backfill writes a snapshot read from the store into the read model in
// the background (at most a few at once; skipped when busy: the feed
// brings it anyway).
func (r *Reader) backfill(s Snapshot) {
	if r.rm == nil {
		return
	}
	select {
	case r.backfills <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-r.backfills }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _ = r.rm.Upsert(ctx, []Snapshot{s})
	}()
}

// WaitBackfills waits until the background back-fills in flight are done
// (for tests and shutdown).
func (r *Reader) WaitBackfills() {
	for range cap(r.backfills) {
		r.backfills <- struct{}{}
	}
	for range cap(r.backfills) {
		<-r.backfills
	}
}

// Invalidate drops a cached order: this node changed it. A read that
// started before and finishes after does not put its older answer back.
func (r *Reader) Invalidate(id string) {
	if r.cache != nil {
		r.cache.invalidate(id, 0)
	}
}

// Seen drops a cached order older than version: the event stream showed
// a newer one.
func (r *Reader) Seen(id string, version int64) {
	if r.cache != nil {
		r.cache.invalidate(id, version)
	}
}

// lru is a bounded LRU of snapshots with an expiry each. Invalidations
// leave a tombstone with the generation at which they happened, so that a
// read started before an invalidation cannot put back what it read.
type lru struct {
	mu    sync.Mutex
	max   int
	gen   uint64
	order *list.List
	items map[string]*list.Element
}

type entry struct {
	id      string
	snap    Snapshot
	valid   bool
	expires time.Time
	// tomb: the generation of the entry's last invalidation.
	tomb uint64
}

func newLRU(n int) *lru { return &lru{max: n, order: list.New(), items: map[string]*list.Element{}} }

// get returns a valid, unexpired entry, and the generation a later put of
// what the caller reads elsewhere must carry.
func (c *lru) get(id string, now time.Time) (Snapshot, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[id]
	if !ok {
		return Snapshot{}, false, c.gen
	}
	e := el.Value.(*entry)
	if !e.valid || !now.Before(e.expires) {
		return Snapshot{}, false, c.gen
	}
	c.order.MoveToFront(el)
	return e.snap, true, c.gen
}

func (c *lru) put(s Snapshot, gen uint64, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := s.Order.ID
	if el, ok := c.items[id]; ok {
		e := el.Value.(*entry)
		if e.tomb > gen {
			return // invalidated after this read started
		}
		if e.valid && e.snap.Newer(s.Order.Version, s.BalanceAt) {
			return // never replace a newer answer
		}
		e.snap, e.valid, e.expires = s, true, expires
		c.order.MoveToFront(el)
		return
	}
	c.items[id] = c.order.PushFront(&entry{id: id, snap: s, valid: true, expires: expires})
	c.evict()
}

// invalidate drops id's entry when version is 0 or the cached version is
// older, leaving a tombstone.
func (c *lru) invalidate(id string, version int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if el, ok := c.items[id]; ok {
		e := el.Value.(*entry)
		if version > 0 && e.valid && e.snap.Order.Version >= version {
			return
		}
		e.valid, e.snap, e.tomb = false, Snapshot{}, c.gen
		return
	}
	c.items[id] = c.order.PushFront(&entry{id: id, tomb: c.gen})
	c.evict()
}

func (c *lru) evict() {
	for c.order.Len() > c.max {
		el := c.order.Back()
		c.order.Remove(el)
		delete(c.items, el.Value.(*entry).id)
	}
}
