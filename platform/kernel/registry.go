package kernel

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/lifecycle"
)

// Layer is where an implementation in a plan comes from. Higher layers take
// precedence.
type Layer uint8

const (
	// LayerDefault is the platform's default implementation of a point.
	LayerDefault Layer = iota + 1
	// LayerProduct is an implementation bound by a product.
	LayerProduct
	// LayerBizpack is an implementation of a bizpack bound to the identity.
	LayerBizpack
)

func (l Layer) String() string {
	switch l {
	case LayerDefault:
		return "default"
	case LayerProduct:
		return "product"
	case LayerBizpack:
		return "bizpack"
	}
	return fmt.Sprintf("layer(%d)", l)
}

// MarshalText writes the layer's name.
func (l Layer) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// Binding puts a registered implementation at a point, with a priority and
// arguments.
type Binding struct {
	Point string `json:"point"`
	Impl  string `json:"impl"`
	// Priority overrides the product's priority for this binding. Higher runs
	// first (for pipelines: later, on top).
	Priority *int `json:"priority,omitempty"`
	// Args configure the implementation; decoded strictly by its factory.
	Args json.RawMessage `json:"args,omitempty"`
}

// Product is a reusable bundle: implementations bound at points, and the
// lifecycle it contributes. It is data; its implementations are registered
// separately by name.
type Product struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Doc     string `json:"doc"`
	// Priority of the product's bindings relative to other products.
	Priority int       `json:"priority"`
	Bindings []Binding `json:"bindings"`
	// Lifecycle replaces the graph of lower-priority products, if set.
	Lifecycle *lifecycle.Graph `json:"lifecycle,omitempty"`
	// LifecyclePatch shapes the graph after Lifecycle is applied, if set.
	LifecyclePatch *lifecycle.Patch `json:"lifecyclePatch,omitempty"`
	// PaymentTimeout of unpaid orders, unless the identity sets one.
	PaymentTimeout time.Duration `json:"paymentTimeout,omitempty"`
	// ReturnWindow of delivered orders, unless the identity sets one.
	ReturnWindow time.Duration `json:"returnWindow,omitempty"`
	// Attributes declares the order attributes of the identities that
	// enable the product (see extensions.AttributeSchema).
	Attributes *extensions.AttributeSchema `json:"attributes,omitempty"`
}

// Bizpack is the kernel's view of a business team's plugin: a named,
// versioned set of implementations, at most one per point. The plugin host
// builds it; tests may build one from in-process functions.
type Bizpack struct {
	Name    string
	Version string
	Impls   []Implementation
	// LifecyclePatch shapes the lifecycle of the identities that bind it.
	LifecyclePatch *lifecycle.Patch
	// Identities the bizpack is built for: an identity may bind it if it is
	// one of them or a descendant. Empty means any.
	Identities []identity.Code
	// PaymentTimeout of unpaid orders of the identities that bind it, unless
	// the identity sets one; zero leaves it to the products.
	PaymentTimeout time.Duration
	// Attributes declares the order attributes of the identities that bind
	// it (from its manifest).
	Attributes *extensions.AttributeSchema
}

// Registry holds everything a configuration may name: implementations,
// platform defaults, products, bizpacks and lifecycle effects. Registration
// is explicit; a duplicate name is an error. It is safe for concurrent use.
type Registry struct {
	cat *Catalogue

	mu       sync.RWMutex
	impls    map[string]Implementation
	defaults map[string]string // point → implementation
	products map[string]Product
	bizpacks map[string]Bizpack
	effects  map[string]lifecycle.Effect
}

// NewRegistry returns an empty registry for the points of cat.
func NewRegistry(cat *Catalogue) *Registry {
	return &Registry{cat: cat, impls: map[string]Implementation{}, defaults: map[string]string{},
		products: map[string]Product{}, bizpacks: map[string]Bizpack{}, effects: map[string]lifecycle.Effect{}}
}

func (r *Registry) checkImpl(im Implementation) error {
	if im.Name == "" {
		return fmt.Errorf("implementation without a name for point %s", im.Point.Name)
	}
	if im.build == nil {
		return fmt.Errorf("implementation %s: build it with the point's Impl or Factory", im.Name)
	}
	spec, ok := r.cat.Lookup(im.Point.Name)
	if !ok {
		return fmt.Errorf("implementation %s: unknown point %s", im.Name, im.Point.Name)
	}
	if spec != im.Point {
		return fmt.Errorf("implementation %s is for a point %s of types %s → %s, the catalogue's has %s → %s",
			im.Name, im.Point.Name, im.Point.Request, im.Point.Response, spec.Request, spec.Response)
	}
	return nil
}

// Register adds implementations. A name already registered, or an
// implementation of a point the catalogue does not know, is an error and
// nothing is added.
func (r *Registry) Register(impls ...Implementation) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, im := range impls {
		if err := r.checkImpl(im); err != nil {
			return fmt.Errorf("register: %w", err)
		}
		if _, dup := r.impls[im.Name]; dup || seen[im.Name] {
			return fmt.Errorf("register: implementation %s registered twice", im.Name)
		}
		seen[im.Name] = true
	}
	for _, im := range impls {
		r.impls[im.Name] = im
	}
	return nil
}

// SetDefault registers implementations and makes each the platform default
// of its point. A point has at most one default.
func (r *Registry) SetDefault(impls ...Implementation) error {
	r.mu.Lock()
	for _, im := range impls {
		if prev, dup := r.defaults[im.Point.Name]; dup {
			r.mu.Unlock()
			return fmt.Errorf("register: point %s has default %s already; %s cannot be another", im.Point.Name, prev, im.Name)
		}
	}
	r.mu.Unlock()
	if err := r.Register(impls...); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, im := range impls {
		r.defaults[im.Point.Name] = im.Name
	}
	return nil
}

// AddProduct registers a product. Its bindings are checked when a
// configuration that enables it is compiled.
func (r *Registry) AddProduct(p Product) error {
	if p.Name == "" {
		return fmt.Errorf("register: product without a name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.products[p.Name]; dup {
		return fmt.Errorf("register: product %s registered twice", p.Name)
	}
	r.products[p.Name] = p
	return nil
}

// PutBizpack registers a bizpack, replacing a registered one of the same
// name (a new version). Plans use it from the next compile on.
func (r *Registry) PutBizpack(b Bizpack) error {
	if b.Name == "" {
		return fmt.Errorf("register: bizpack without a name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	points := map[string]bool{}
	for _, im := range b.Impls {
		if err := r.checkImpl(im); err != nil {
			return fmt.Errorf("register: bizpack %s: %w", b.Name, err)
		}
		if points[im.Point.Name] {
			return fmt.Errorf("register: bizpack %s implements %s twice", b.Name, im.Point.Name)
		}
		points[im.Point.Name] = true
	}
	r.bizpacks[b.Name] = b
	return nil
}

// RemoveBizpack unregisters a bizpack; configurations that bind it no
// longer compile.
func (r *Registry) RemoveBizpack(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.bizpacks, name)
}

// AddEffect registers a lifecycle side effect that graphs name.
func (r *Registry) AddEffect(e lifecycle.Effect) error {
	if e.Name == "" || e.Do == nil {
		return fmt.Errorf("register: an effect needs a name and a Do func")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.effects[e.Name]; dup {
		return fmt.Errorf("register: effect %s registered twice", e.Name)
	}
	r.effects[e.Name] = e
	return nil
}

// Products lists the registered products, sorted by name.
func (r *Registry) Products() []Product {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Product, 0, len(r.products))
	for _, p := range r.products {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Product) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ImplInfo describes a registered implementation.
type ImplInfo struct {
	Name     string `json:"name"`
	Point    string `json:"point"`
	Version  string `json:"version,omitempty"`
	Doc      string `json:"doc,omitempty"`
	Default  bool   `json:"default,omitempty"`
	Isolated bool   `json:"isolated,omitempty"`
}

// Implementations lists the registered implementations, sorted by name.
func (r *Registry) Implementations() []ImplInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]ImplInfo, 0, len(r.impls))
	for _, im := range r.impls {
		out = append(out, ImplInfo{Name: im.Name, Point: im.Point.Name, Version: im.Version, Doc: im.Doc,
			Default: r.defaults[im.Point.Name] == im.Name, Isolated: im.Isolated})
	}
	slices.SortFunc(out, func(a, b ImplInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// snapshot copies the registry for one compile, so a compile sees one
// consistent registry while bizpacks are swapped.
type snapshot struct {
	impls    map[string]Implementation
	defaults map[string]string
	products map[string]Product
	bizpacks map[string]Bizpack
	effects  map[string]lifecycle.Effect
}

func (r *Registry) snapshot() snapshot {
	r.mu.RLock()
	defer r.mu.RUnlock()
	clone := func(m map[string]Implementation) map[string]Implementation {
		out := make(map[string]Implementation, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	s := snapshot{impls: clone(r.impls), defaults: map[string]string{}, products: map[string]Product{},
		bizpacks: map[string]Bizpack{}, effects: map[string]lifecycle.Effect{}}
	for k, v := range r.defaults {
		s.defaults[k] = v
	}
	for k, v := range r.products {
		s.products[k] = v
	}
	for k, v := range r.bizpacks {
		s.bizpacks[k] = v
	}
	for k, v := range r.effects {
		s.effects[k] = v
	}
	return s
}
