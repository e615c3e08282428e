package catalog

import (
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/products/b2bdistribution"
	"github.com/tmf-platform/tmf/products/standardretail"
	"github.com/tmf-platform/tmf/products/virtualgoods"
)

// Module is a built-in product with the implementations and effects it
// brings.
type Module struct {
	Product         kernel.Product
	Implementations []kernel.Implementation
	Effects         []lifecycle.Effect
}

func (m Module) register(reg *kernel.Registry) error {
	if err := reg.Register(m.Implementations...); err != nil {
		return err
	}
	for _, e := range m.Effects {
		if err := reg.AddEffect(e); err != nil {
			return err
		}
	}
	return reg.AddProduct(m.Product)
}

// Products are the built-in products, sorted by name. None of them brings
// lifecycle effects yet.
func Products() []Module {
	return []Module{
		{Product: b2bdistribution.Product(), Implementations: b2bdistribution.Implementations()},
		{Product: standardretail.Product(), Implementations: standardretail.Implementations()},
		{Product: virtualgoods.Product(), Implementations: virtualgoods.Implementations()},
	}
}
