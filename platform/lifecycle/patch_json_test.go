package lifecycle_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/tmf-platform/tmf/platform/lifecycle"
)

// A patch is written camelCase, as in bizpack manifests; files written with
// the Go field names still read the same.
func TestPatchJSON(t *testing.T) {
	b, err := json.Marshal(lifecycle.Patch{RemoveStates: []string{"pending_review"}, Retarget: map[string]string{"pay": "done"}})
	if err != nil || string(b) != `{"removeStates":["pending_review"],"retarget":{"pay":"done"}}` {
		t.Fatalf("marshal = %s, %v", b, err)
	}
	for _, in := range []string{`{"removeStates":["pending_review"],"retarget":{"pay":"done"}}`,
		`{"RemoveStates":["pending_review"],"Retarget":{"pay":"done"}}`} {
		var p lifecycle.Patch
		if err := json.Unmarshal([]byte(in), &p); err != nil || !slices.Equal(p.RemoveStates, []string{"pending_review"}) || p.Retarget["pay"] != "done" {
			t.Errorf("unmarshal %s = %+v, %v", in, p, err)
		}
	}
}
