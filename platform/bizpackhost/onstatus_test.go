package bizpackhost_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// OnStatus sees every status change of a bizpack process, in order: it
// runs, restarts after its process dies mid-call, runs again, and stops
// when the host closes.
func TestOnStatusSeesEveryChange(t *testing.T) {
	var mu sync.Mutex
	var seen []bizpackhost.StatusChange
	o := fast
	o.OnStatus = func(c bizpackhost.StatusChange) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, c)
	}
	got := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, c := range seen {
			out = append(out, c.From+">"+c.To)
		}
		return out
	}
	e := setup(t, o)
	e.load(t, v1())
	e.bind(t)
	_, err := validate(e.begin(t), "exit")
	wantFailure(t, err, kernel.OutcomeError)
	want := []string{"starting>running", "running>restarting", "restarting>running"}
	eventually(t, "the restart reported", func() bool { return len(got()) >= len(want) })
	if g := got(); !slices.Equal(g[:len(want)], want) {
		t.Fatalf("changes %q, want %q first", g, want)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range seen {
		if c.Name != "chaos" || c.At.IsZero() {
			t.Errorf("change %+v", c)
		}
	}
	if seen[1].Error == "" || seen[2].Version != "1.0.0" {
		t.Errorf("restart %+v, running again %+v", seen[1], seen[2])
	}
}
