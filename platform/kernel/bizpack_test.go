package kernel_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/catalog"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// A bizpack whose manifest names unknown points or wrong types is refused,
// with every problem named.
func TestRemoteBizpackChecksItsManifest(t *testing.T) {
	cat, _, err := catalog.New()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		manifest extensions.Manifest
		want     []string // substrings of the error; none means accepted
	}{
		{"good", extensions.Manifest{Name: "good", Version: "1", Points: []extensions.PointTypes{
			{Point: "pricing.adjust", Request: "PriceSheet", Response: "PriceSheet"}}}, nil},
		{"unknown point", extensions.Manifest{Name: "teleport", Version: "1", Points: []extensions.PointTypes{
			{Point: "order.teleport"}}}, []string{"unknown point order.teleport"}},
		{"wrong types and unknown point together", extensions.Manifest{Name: "mixed", Version: "1", Points: []extensions.PointTypes{
			{Point: "order.guard", Request: "ValidateRequest", Response: "Verdict"}, {Point: "stock.teleport"}}},
			[]string{"point order.guard takes GuardRequest and answers Verdict, the manifest says ValidateRequest → Verdict", "unknown point stock.teleport"}},
		{"bad identity", extensions.Manifest{Name: "id", Version: "1", Identities: []string{"Not A Code"},
			Points: []extensions.PointTypes{{Point: "order.guard"}}}, []string{"identity"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := kernel.RemoteBizpack(cat, c.manifest, nil)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var me *extensions.ManifestError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want a manifest error", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
