package readmodel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/readmodel"
	"github.com/tmf-platform/tmf/platform/store"
)

// slowSource is a store that takes its time or fails, counting its reads.
type slowSource struct {
	readmodel.Source
	reads int
}

func (s *slowSource) Fetch(ctx context.Context, ids []string) ([]readmodel.Snapshot, error) {
	s.reads++
	return s.Source.Fetch(ctx, ids)
}

// A read by id falls through cache → read model → store, and the answer
// back-fills the levels above; an invalidation, a version seen on the
// stream, a read model that is down or slower than its slice of the
// deadline each send the read to the next level.
func TestReaderFallsThroughAndBackfills(t *testing.T) {
	f := newFixture(t)
	m, dsn := openModel(t)
	src := &slowSource{Source: readmodel.StoreSource{Store: f.st}}
	clock := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	r := readmodel.NewReader(m, src, nil, readmodel.ReaderOptions{TTL: 2 * time.Second, Clock: func() time.Time { return clock }})
	v := f.place(t, 0, order.Item{SKU: "case", Quantity: 1})
	ctx := t.Context()
	read := func(want readmodel.Level) readmodel.Snapshot {
		t.Helper()
		s, level, err := r.Get(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if level != want {
			t.Fatalf("answered by %s, want %s", level, want)
		}
		if s.Order.ID != v.ID {
			t.Fatalf("read %s", s.Order.ID)
		}
		return s
	}
	// Nothing cached, the read model does not hold it: the store answers,
	// and back-fills the read model and the cache.
	read(readmodel.LevelStore)
	r.WaitBackfills()
	if _, err := m.Get(ctx, v.ID); err != nil {
		t.Fatalf("the read model was not back-filled: %v", err)
	}
	read(readmodel.LevelCache)
	// The cached answer expires: the read model answers and fills the cache.
	clock = clock.Add(3 * time.Second)
	read(readmodel.LevelReadModel)
	read(readmodel.LevelCache)
	// This node writes the order: the cache drops it.
	moved, err := f.svc.Fire(ctx, v.ID, order.Event{Name: "cancel", Actor: v.BuyerID})
	if err != nil {
		t.Fatal(err)
	}
	r.Invalidate(v.ID)
	if s := read(readmodel.LevelReadModel); s.Order.Version != 1 {
		t.Fatalf("read model version %d: it has not seen the cancel yet", s.Order.Version)
	}
	// The stream shows version 2: the cached version 1 goes, and the
	// read model (still at 1 here, as if its feed lagged) is used as it is.
	r.Seen(v.ID, moved.Version)
	read(readmodel.LevelReadModel)
	// The feed applied it.
	if _, err := m.Upsert(ctx, mustFetch(t, f.st, v.ID)); err != nil {
		t.Fatal(err)
	}
	r.Seen(v.ID, moved.Version)
	if s := read(readmodel.LevelReadModel); s.Order.Version != 2 || s.Order.Status != "cancelled" {
		t.Fatalf("v%d %s", s.Order.Version, s.Order.Status)
	}
	// A version seen that is not newer keeps the cache.
	r.Seen(v.ID, 2)
	read(readmodel.LevelCache)

	// The read model's slice of the deadline is too short: the store answers.
	r.Invalidate(v.ID)
	short, cancel := context.WithTimeout(ctx, 3*time.Millisecond)
	defer cancel()
	time.Sleep(4 * time.Millisecond) // the deadline passed: no time for the read model, nor for the store
	if _, _, err := r.Get(short, v.ID); err == nil {
		t.Fatal("a read past its deadline answered")
	}
	// The read model is down: the store answers.
	down, err := readmodel.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	down.Close()
	r2 := readmodel.NewReader(down, src, nil, readmodel.ReaderOptions{NoCache: true})
	before := src.reads
	s, level, err := r2.Get(ctx, v.ID)
	if err != nil || level != readmodel.LevelStore || s.Order.Version != 2 || src.reads != before+1 {
		t.Fatalf("with the read model down: %s, %v, v%d", level, err, s.Order.Version)
	}
	// An order nobody holds.
	if _, _, err := r.Get(ctx, "o-missing"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Fatalf("missing order: %v", err)
	}
}

func mustFetch(t testing.TB, st *store.Store, id string) []readmodel.Snapshot {
	t.Helper()
	s, err := readmodel.StoreSource{Store: st}.Fetch(t.Context(), []string{id})
	if err != nil || len(s) != 1 {
		t.Fatalf("fetch %s: %v", id, err)
	}
	return s
}

// BenchmarkReadLevels measures a read by id answered by each level:
// go test -run '^$' -bench ReadLevels ./platform/readmodel/
func BenchmarkReadLevels(b *testing.B) {
	f := newFixture(b)
	m, _ := openModel(b)
	v := f.place(b, 0, order.Item{SKU: "case", Quantity: 1})
	if _, err := m.Upsert(b.Context(), mustFetch(b, f.st, v.ID)); err != nil {
		b.Fatal(err)
	}
	src := readmodel.StoreSource{Store: f.st}
	for _, tc := range []struct {
		name string
		r    *readmodel.Reader
		want readmodel.Level
	}{
		{"cache", readmodel.NewReader(m, src, nil, readmodel.ReaderOptions{TTL: time.Hour}), readmodel.LevelCache},
		{"readmodel", readmodel.NewReader(m, src, nil, readmodel.ReaderOptions{NoCache: true}), readmodel.LevelReadModel},
		{"store", readmodel.NewReader(nil, src, nil, readmodel.ReaderOptions{NoCache: true}), readmodel.LevelStore},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := b.Context()
			if _, _, err := tc.r.Get(ctx, v.ID); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				_, level, err := tc.r.Get(ctx, v.ID)
				if err != nil || level != tc.want {
					b.Fatalf("%s, %v", level, err)
				}
			}
		})
	}
}
