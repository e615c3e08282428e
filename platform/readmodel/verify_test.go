package readmodel_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/readmodel"
)

// Verify finds every way the read model can differ from the store: an
// order it lacks, an older or newer state, the same version with other
// content, and an order the store does not hold; after a rebuild it finds
// none.
func TestVerify(t *testing.T) {
	f := newFixture(t)
	m, _ := openModel(t)
	ctx := t.Context()
	src := readmodel.StoreSource{Store: f.st}
	views := seed(t, f, m, 12)
	if r, err := readmodel.Verify(ctx, m, src, 5); err != nil || !r.Equal() || r.Checked != 12 || r.Held != 12 {
		t.Fatalf("after the rebuild: %v, %v", r, err)
	}

	missing := f.place(t, 0, order.Item{SKU: "case", Quantity: 1})
	behind := views[0]
	if _, err := f.svc.Fire(ctx, behind.ID, order.Event{Name: "cancel", Actor: behind.BuyerID}); err != nil {
		t.Fatal(err)
	}
	// The same version as the store with another total; a newer state
	// than the store's; an order the store never had.
	snaps, err := src.Fetch(ctx, []string{views[3].ID, views[4].ID})
	if err != nil {
		t.Fatal(err)
	}
	differs, ahead := snaps[0], snaps[1]
	if err := resetRow(t, m, src, differs.Order.ID); err != nil {
		t.Fatal(err)
	}
	differs.Order.Total++
	ahead.Order.Version++
	extra := snap("o-not-in-store", 1, 0, time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC))
	if _, err := m.Upsert(ctx, []readmodel.Snapshot{differs, ahead, extra}); err != nil {
		t.Fatal(err)
	}
	r, err := readmodel.Verify(ctx, m, src, 4)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range r.Differences {
		got[d.ID] = d.Kind
	}
	want := map[string]string{missing.ID: "missing", behind.ID: "behind", differs.Order.ID: "differs", ahead.Order.ID: "ahead",
		extra.Order.ID: "extra"}
	if r.Count != int64(len(want)) || r.Checked != 13 || r.Held != 13 {
		t.Fatalf("report: %v", r)
	}
	for id, kind := range want {
		if got[id] != kind {
			t.Errorf("%s: %q, want %q\n%v", id, got[id], kind, r)
		}
	}
	if !slices.ContainsFunc(r.Differences, func(d readmodel.Difference) bool {
		return d.ID == behind.ID && d.Store[0] == behind.Version+1 && d.ReadModel[0] == behind.Version
	}) {
		t.Errorf("the versions of %s are not reported: %v", behind.ID, r)
	}
}

// resetRow empties the read model and copies every order back but id, so
// that a snapshot of id at the store's version can be written.
func resetRow(t *testing.T, m *readmodel.Model, src readmodel.Source, id string) error {
	t.Helper()
	held := modelOrders(t, m)
	if err := m.Reset(t.Context()); err != nil {
		return err
	}
	held = slices.DeleteFunc(held, func(s readmodel.Snapshot) bool { return s.Order.ID == id })
	_, err := m.Upsert(t.Context(), held)
	return err
}
