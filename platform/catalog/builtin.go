// Package catalog wires the platform's built-in extension points, their
// platform defaults and the built-in products into a catalogue and a
// registry. It is the one place that lists them, so the wiring stays
// visible: adding a point, a default or a product means adding a line here.
package catalog

import (
	"fmt"

	"github.com/tmf-platform/tmf/domains/delivery"
	"github.com/tmf-platform/tmf/domains/fulfilment"
	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/pricing"
	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
)

// Points are the built-in extension points.
func Points() []kernel.Point {
	var out []kernel.Point
	for _, ps := range [][]kernel.Point{order.Points(), pricing.Points(), promotion.Points(), stock.Points(),
		payment.Points(), delivery.Points(), fulfilment.Points()} {
		out = append(out, ps...)
	}
	return out
}

// Sources are the in-memory data that some platform defaults read while
// ordering (never the database): the promotion book. A nil source behaves
// as an empty one.
type Sources struct {
	Promotions *promotion.Book
}

// Defaults are the platform default implementations, reading src.
func Defaults(src Sources) []kernel.Implementation {
	var out []kernel.Implementation
	for _, is := range [][]kernel.Implementation{order.Defaults(), pricing.Defaults(), promotion.Defaults(src.Promotions),
		stock.Defaults(), payment.Defaults(), delivery.Defaults(), fulfilment.Defaults()} {
		out = append(out, is...)
	}
	return out
}

// New returns a catalogue of the built-in points and a registry holding the
// platform defaults (over empty sources) and the built-in products.
func New() (*kernel.Catalogue, *kernel.Registry, error) { return NewWith(Sources{}) }

// NewWith is New with the defaults reading src.
func NewWith(src Sources) (*kernel.Catalogue, *kernel.Registry, error) {
	cat := kernel.NewCatalogue()
	if err := cat.Add(Points()...); err != nil {
		return nil, nil, err
	}
	reg := kernel.NewRegistry(cat)
	if err := reg.SetDefault(Defaults(src)...); err != nil {
		return nil, nil, err
	}
	for _, m := range Products() {
		if err := m.register(reg); err != nil {
			return nil, nil, fmt.Errorf("product %s: %w", m.Product.Name, err)
		}
	}
	return cat, reg, nil
}

// NewKernel returns a kernel over the built-in catalogue and registry, with
// empty sources and the plans of an empty configuration in force.
func NewKernel(opts ...kernel.Option) (*kernel.Kernel, error) {
	return NewKernelWith(Sources{}, opts...)
}

// NewKernelWith is NewKernel with the defaults reading src.
func NewKernelWith(src Sources, opts ...kernel.Option) (*kernel.Kernel, error) {
	cat, reg, err := NewWith(src)
	if err != nil {
		return nil, err
	}
	return kernel.New(cat, reg, opts...)
}
