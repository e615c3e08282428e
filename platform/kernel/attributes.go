package kernel

import (
	"maps"
	"slices"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/identity"
)

// Attributes are the order attributes in force for the identity, by name:
// the declarations of its products (a higher-priority product's wins a
// name), then of the bizpacks bound along its chain (the farthest ancestor
// first; a nearer identity's, and at one identity a higher-priority
// bizpack's, wins a name). Empty when nothing declares any: orders of the
// identity then carry no attributes. The map must not be changed.
func (p *Plan) Attributes() map[string]extensions.DeclaredAttribute { return p.attributes }

// attributes merges the attribute declarations of an identity's products
// and bound bizpacks (see Plan.Attributes); a product's schema that does
// not check is a problem of kind "attributes" (a bizpack's manifest was
// checked when the bizpack was registered).
func (c *compiler) attributes(code identity.Code, products []enabledProduct, bound map[identity.Code][]boundBizpack) map[string]extensions.DeclaredAttribute {
	out := map[string]extensions.DeclaredAttribute{}
	add := func(s *extensions.AttributeSchema, source string) {
		if s == nil {
			return
		}
		for name, prop := range s.Properties {
			out[name] = extensions.DeclaredAttribute{AttributeProperty: prop, Required: slices.Contains(s.Required, name), Source: source}
		}
	}
	for _, ep := range slices.Backward(products) {
		if s := ep.product.Attributes; s != nil {
			if problems := s.Check(); len(problems) > 0 {
				for _, pr := range problems {
					c.problem(code, "", "attributes", "product %s: %s", ep.product.Name, pr)
				}
				continue
			}
		}
		add(ep.product.Attributes, ep.product.Name)
	}
	chain := code.Chain()
	for _, link := range slices.Backward(chain) {
		for _, bb := range slices.Backward(bound[link]) {
			add(bb.bizpack.Attributes, bb.bizpack.Name)
		}
	}
	if len(out) > extensions.MaxAttributes {
		c.problem(code, "", "attributes", "identity %s has %d attributes from its products and bizpacks, at most %d: %v",
			code, len(out), extensions.MaxAttributes, slices.Sorted(maps.Keys(out)))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
