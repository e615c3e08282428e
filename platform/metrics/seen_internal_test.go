package metrics

import (
	"fmt"
	"testing"
)

// The memory of counted ids is bounded: the oldest id leaves when the
// window is full, the others stay.
func TestSeenWindowIsBounded(t *testing.T) {
	b, err := NewBusiness(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range SeenWindow + 1 {
		b.remember(fmt.Sprint(i))
	}
	b.remember("1") // already there: no change
	if len(b.seen) != SeenWindow {
		t.Fatalf("%d ids remembered, want %d", len(b.seen), SeenWindow)
	}
	if b.counted("0") || !b.counted("1") || !b.counted(fmt.Sprint(SeenWindow)) {
		t.Fatalf("the oldest id stayed or a newer one left: 0:%v 1:%v last:%v", b.counted("0"), b.counted("1"), b.counted(fmt.Sprint(SeenWindow)))
	}
}
