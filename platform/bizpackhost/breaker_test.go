package bizpackhost

import (
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	b := newBreaker(3, time.Second, 4*time.Second)
	steps := []struct {
		name  string
		do    func() bool // returns what to compare with want
		want  bool
		state breakerState
	}{
		{"closed lets calls through", func() bool { return b.allow(at(0)) }, true, closed},
		{"two failures keep it closed", func() bool { b.report(false, at(0)); return b.report(false, at(0)) }, false, closed},
		{"a success resets the count", func() bool { return b.report(true, at(0)) }, false, closed},
		{"third failure in a row opens", func() bool {
			b.report(false, at(0))
			b.report(false, at(0))
			return b.report(false, at(0))
		}, true, open},
		{"open refuses during the cooldown", func() bool { return b.allow(at(999 * time.Millisecond)) }, false, open},
		{"after the cooldown one trial goes", func() bool { return b.allow(at(time.Second)) }, true, halfOpen},
		{"only one trial at a time", func() bool { return b.allow(at(time.Second)) }, false, halfOpen},
		{"a failed trial opens again", func() bool { return b.report(false, at(time.Second)) }, true, open},
		{"with a doubled cooldown", func() bool { return b.allow(at(2*time.Second + 999*time.Millisecond)) }, false, open},
		{"then another trial", func() bool { return b.allow(at(3 * time.Second)) }, true, halfOpen},
		{"which succeeds and closes it", func() bool { return b.report(true, at(3*time.Second)) }, false, closed},
	}
	for _, s := range steps {
		if got := s.do(); got != s.want {
			t.Fatalf("%s: got %v, want %v", s.name, got, s.want)
		}
		if st := b.current(); st != s.state {
			t.Fatalf("%s: state %s, want %s", s.name, st, s.state)
		}
	}
	// The cooldown never passes its maximum.
	for range 3 {
		b.report(false, at(0))
	}
	for i := range 5 {
		now := at(time.Duration(i+1) * time.Hour)
		if !b.allow(now) {
			t.Fatalf("no trial after an hour (round %d)", i)
		}
		b.report(false, now)
	}
	if b.cooldown != 4*time.Second {
		t.Fatalf("cooldown %s, want the 4s maximum", b.cooldown)
	}
}
