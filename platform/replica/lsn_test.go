package replica

import (
	"testing"
	"time"
)

func TestLSNText(t *testing.T) {
	for _, tc := range []struct {
		text string
		want LSN
		bad  bool
	}{
		{"0/0", 0, false},
		{"0/4002E30", 0x4002E30, false},
		{"16/B374D848", 0x16B374D848, false},
		{"FFFFFFFF/FFFFFFFF", ^LSN(0), false},
		{"16B374D848", 0, true},
		{"x/1", 0, true},
		{"1/100000000", 0, true},
	} {
		got, err := ParseLSN(tc.text)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseLSN(%q) = %v, %v; want %v (error %v)", tc.text, got, err, tc.want, tc.bad)
		}
		if !tc.bad && got.String() != tc.text {
			t.Errorf("%q comes back as %q", tc.text, got.String())
		}
	}
}

func TestTokens(t *testing.T) {
	for _, l := range []LSN{1, 0x16B374D848, ^LSN(0)} {
		if got := ParseToken(l.Token()); got != l {
			t.Errorf("token %q of %v reads back as %v", l.Token(), l, got)
		}
	}
	if LSN(0).Token() != "" {
		t.Error("the zero position has a token")
	}
	for _, bad := range []string{"", "c1.", "c1.xyz", "c2.10", "10", "c1.10000000000000000", "c1.-1"} {
		if got := ParseToken(bad); got != 0 {
			t.Errorf("malformed token %q reads as %v", bad, got)
		}
	}
}

// The lag is the time since the newest primary position the replica has
// replayed, zero when it has the last one, and past the bound when it has
// none of those kept.
func TestLag(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	s := &Set{opt: Options{MaxLag: 2 * time.Second, Poll: 250 * time.Millisecond}.withDefaults()}
	if got := s.lagOf(5, t0); got != 0 {
		t.Fatalf("lag with no sample = %v", got)
	}
	for i, lsn := range []LSN{100, 200, 300, 300, 400} {
		s.addSample(sample{at: t0.Add(time.Duration(i) * time.Second), lsn: lsn})
	}
	// Kept: the window is MaxLag + 4 polls = 3s back from the last (4s),
	// and one sample older than it.
	if len(s.samples) != 5 {
		t.Fatalf("kept %d samples", len(s.samples))
	}
	now := t0.Add(4500 * time.Millisecond)
	for _, tc := range []struct {
		replay LSN
		want   time.Duration
	}{
		{400, 0},
		{500, 0},
		{399, 1500 * time.Millisecond}, // has 300, last at 3s
		{300, 1500 * time.Millisecond},
		{250, 3500 * time.Millisecond}, // has 200, at 1s
		{100, 4500 * time.Millisecond},
		{50, 4500 * time.Millisecond}, // none kept: at least the window
	} {
		if got := s.lagOf(tc.replay, now); got != tc.want {
			t.Errorf("lag at %d = %v, want %v", tc.replay, got, tc.want)
		}
	}
	s.addSample(sample{at: t0.Add(10 * time.Second), lsn: 500})
	if len(s.samples) != 2 || s.samples[0].lsn != 400 {
		t.Fatalf("after a poll 6s later, kept %+v", s.samples)
	}
}
