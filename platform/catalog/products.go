package catalog

import (
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
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

// Products are the built-in products.
func Products() []Module {
	return nil
}
