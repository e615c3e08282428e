package kernel

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/lifecycle"
)

// compiler turns one Config into a PlanSet against one registry snapshot,
// collecting every problem instead of stopping at the first.
type compiler struct {
	cat      *Catalogue
	specs    []*Spec
	snap     snapshot
	cfg      Config
	metrics  *Metrics
	problems []Problem

	byCode   map[identity.Code]*IdentitySpec
	products map[string][]builtBinding // product name → its bindings, built once
	bizpacks map[string]map[string]any // bizpack → point → fn
	defaults map[string]*compiledImpl  // point → default
	impls    map[string]*compiledImpl  // dedupe compiled impls by identity of (layer, source, impl, point, args)
}

type builtBinding struct {
	point    *Spec
	impl     Implementation
	priority *int
	fn       any
	key      string
}

func (c *compiler) problem(code identity.Code, point, kind, format string, args ...any) {
	c.problems = append(c.problems, Problem{Identity: code, Point: point, Kind: kind, Message: fmt.Sprintf(format, args...)})
}

func compile(cat *Catalogue, snap snapshot, cfg Config, metrics *Metrics) (*PlanSet, error) {
	c := &compiler{cat: cat, specs: cat.specsSorted(), snap: snap, cfg: cfg, metrics: metrics,
		byCode: map[identity.Code]*IdentitySpec{}, products: map[string][]builtBinding{},
		bizpacks: map[string]map[string]any{}, defaults: map[string]*compiledImpl{}, impls: map[string]*compiledImpl{}}

	codes := []identity.Code{identity.Root}
	for i := range cfg.Identities {
		spec := &cfg.Identities[i]
		if spec.Code == identity.Root {
			c.problem(identity.Root, "", "identity", "an identity needs a code; the platform default is not configured here")
			continue
		}
		if err := spec.Code.Validate(); err != nil {
			c.problem(identity.Root, "", "identity", "%v", err)
			continue
		}
		if _, dup := c.byCode[spec.Code]; dup {
			c.problem(spec.Code, "", "duplicate", "identity %s is configured twice", spec.Code)
			continue
		}
		c.byCode[spec.Code] = spec
		codes = append(codes, spec.Code)
	}
	sortCodes(codes)
	resolver, err := identity.NewResolver(codes[1:], cfg.Rules)
	if err != nil {
		var ce *identity.ConfigError
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				c.problem(identity.Root, "", "rules", "%s", p)
			}
		} else {
			c.problem(identity.Root, "", "rules", "%v", err)
		}
	}
	c.buildDefaults()

	maxID := 0
	for _, s := range c.specs {
		maxID = max(maxID, s.id)
	}
	set := &PlanSet{revision: cfg.Revision, plans: make(map[identity.Code]*Plan, len(codes)), resolver: resolver}
	for _, code := range codes {
		set.plans[code] = c.plan(code, maxID)
	}
	if len(c.problems) > 0 {
		return nil, &ConfigError{Revision: cfg.Revision, Problems: dedupe(c.problems)}
	}
	return set, nil
}

func (c *compiler) buildDefaults() {
	for point, implName := range c.snap.defaults {
		im := c.snap.impls[implName]
		fn, err := im.build(nil)
		if err != nil {
			c.problem(identity.Root, point, "bad_args", "platform default %s: %v", implName, err)
			continue
		}
		c.defaults[point] = c.compiled(im, LayerDefault, "platform", im.Version, 0, identity.Root, fn, "")
	}
}

// compiled returns one compiledImpl per distinct binding, so that identities
// sharing a product share its instances and metric series.
func (c *compiler) compiled(im Implementation, layer Layer, source, version string, priority int, origin identity.Code, fn any, argsKey string) *compiledImpl {
	key := strings.Join([]string{layer.String(), source, im.Name, im.Point.Name, fmt.Sprint(priority), string(origin), argsKey}, "\x00")
	if ci, ok := c.impls[key]; ok {
		return ci
	}
	ci := &compiledImpl{name: im.Name, source: source, version: version, layer: layer, priority: priority,
		origin: origin, isolated: im.Isolated, fn: fn, remote: im.remote}
	if c.metrics != nil {
		ci.metrics = c.metrics.forImpl(im.Point.Name, im.Name, layer, source)
	}
	c.impls[key] = ci
	return ci
}

// product builds a product's bindings once, reporting problems against the
// first identity (in sorted order) that enables it. An identity that gives
// the product its own arguments gets its own build, reported against it.
func (c *compiler) product(p Product, enabledBy identity.Code, args map[string]json.RawMessage) []builtBinding {
	cacheKey := p.Name
	if len(args) > 0 {
		cacheKey = p.Name + "@" + string(enabledBy)
	}
	if built, ok := c.products[cacheKey]; ok {
		return built
	}
	for _, point := range slices.Sorted(maps.Keys(args)) {
		n := 0
		for _, b := range p.Bindings {
			if b.Point == point {
				n++
			}
		}
		if n != 1 {
			c.problem(enabledBy, point, "bad_args", "identity %s gives product %s arguments at %s, where it binds %d implementations (it must bind exactly one)",
				enabledBy, p.Name, point, n)
		}
	}
	var built []builtBinding
	for i, b := range p.Bindings {
		spec, ok := c.cat.Lookup(b.Point)
		if !ok {
			c.problem(enabledBy, b.Point, "unknown_point", "product %s binds %s at unknown point %s", p.Name, b.Impl, b.Point)
			continue
		}
		im, ok := c.snap.impls[b.Impl]
		if !ok {
			c.problem(enabledBy, b.Point, "unknown_impl", "product %s binds unknown implementation %s at %s", p.Name, b.Impl, b.Point)
			continue
		}
		if im.Point != spec {
			c.problem(enabledBy, b.Point, "type_mismatch", "product %s binds %s at %s (%s → %s), but %s implements %s (%s → %s)",
				p.Name, b.Impl, b.Point, spec.Request, spec.Response, b.Impl, im.Point.Name, im.Point.Request, im.Point.Response)
			continue
		}
		bargs, key := b.Args, fmt.Sprintf("%s#%d", p.Name, i)
		if a, ok := args[b.Point]; ok {
			bargs, key = a, key+"@"+string(enabledBy)
		}
		fn, err := im.build(bargs)
		if err != nil {
			c.problem(enabledBy, b.Point, "bad_args", "product %s, binding %s at %s: %v", p.Name, b.Impl, b.Point, err)
			continue
		}
		built = append(built, builtBinding{point: spec, impl: im, priority: b.Priority, fn: fn, key: key})
	}
	c.products[cacheKey] = built
	return built
}

func (c *compiler) bizpack(b Bizpack) map[string]any {
	if fns, ok := c.bizpacks[b.Name]; ok {
		return fns
	}
	fns := map[string]any{}
	for _, im := range b.Impls {
		fn, err := im.build(nil)
		if err != nil {
			c.problem(identity.Root, im.Point.Name, "bad_args", "bizpack %s, %s: %v", b.Name, im.Name, err)
			continue
		}
		fns[im.Point.Name] = fn
	}
	c.bizpacks[b.Name] = fns
	return fns
}

type enabledProduct struct {
	product  Product
	priority int
	origin   identity.Code
	args     map[string]json.RawMessage
}

// effectiveProducts are the products of the nearest identity in the chain
// that enables any, highest priority first.
func (c *compiler) effectiveProducts(code identity.Code) []enabledProduct {
	for _, link := range code.Chain() {
		spec := c.byCode[link]
		if spec == nil || len(spec.Products) == 0 {
			continue
		}
		var out []enabledProduct
		seen := map[string]bool{}
		for _, ref := range spec.Products {
			p, ok := c.snap.products[ref.Name]
			if !ok {
				c.problem(link, "", "unknown_product", "identity %s enables unknown product %s", link, ref.Name)
				continue
			}
			if seen[ref.Name] {
				c.problem(link, "", "duplicate", "identity %s enables product %s twice", link, ref.Name)
				continue
			}
			seen[ref.Name] = true
			prio := p.Priority
			if ref.Priority != nil {
				prio = *ref.Priority
			}
			out = append(out, enabledProduct{product: p, priority: prio, origin: link, args: ref.Args})
		}
		slices.SortStableFunc(out, func(a, b enabledProduct) int {
			return cmp.Or(cmp.Compare(b.priority, a.priority), strings.Compare(a.product.Name, b.product.Name))
		})
		return out
	}
	return nil
}

type boundBizpack struct {
	bizpack  Bizpack
	priority int
}

// bizpacksOf returns the registered bizpacks bound by one identity, highest
// priority first.
func (c *compiler) bizpacksOf(code identity.Code) []boundBizpack {
	spec := c.byCode[code]
	if spec == nil {
		return nil
	}
	var out []boundBizpack
	seen := map[string]bool{}
	for _, ref := range spec.Bizpacks {
		b, ok := c.snap.bizpacks[ref.Name]
		if !ok {
			c.problem(code, "", "unknown_bizpack", "identity %s binds unknown bizpack %s", code, ref.Name)
			continue
		}
		if seen[ref.Name] {
			c.problem(code, "", "duplicate", "identity %s binds bizpack %s twice", code, ref.Name)
			continue
		}
		seen[ref.Name] = true
		if b.boundOutside(code) {
			c.problem(code, "", "bizpack_identity", "identity %s binds bizpack %s, which is built for %v only", code, ref.Name, b.Identities)
			continue
		}
		out = append(out, boundBizpack{bizpack: b, priority: ref.Priority})
	}
	slices.SortStableFunc(out, func(a, b boundBizpack) int {
		return cmp.Or(cmp.Compare(b.priority, a.priority), strings.Compare(a.bizpack.Name, b.bizpack.Name))
	})
	return out
}

func (c *compiler) plan(code identity.Code, maxID int) *Plan {
	spec := c.byCode[code]
	p := &Plan{identity: code, revision: c.cfg.Revision, points: make([]*compiledPoint, maxID+1)}
	if spec != nil {
		p.name, p.disabled = spec.Name, spec.Disabled
	}
	products := c.effectiveProducts(code)
	for _, ep := range products {
		p.products = append(p.products, ep.product.Name)
	}
	chain := code.Chain()
	bound := map[identity.Code][]boundBizpack{}
	for _, link := range chain {
		bound[link] = c.bizpacksOf(link)
	}

	for _, s := range c.specs {
		cp := &compiledPoint{spec: s}
		// Bizpack layer: the nearest identity whose bizpacks implement s.
		for _, link := range chain {
			var layer []*compiledImpl
			for _, bb := range bound[link] {
				fn, ok := c.bizpack(bb.bizpack)[s.Name]
				if !ok {
					continue
				}
				im := bizpackImpl(bb.bizpack, s.Name)
				layer = append(layer, c.compiled(im, LayerBizpack, bb.bizpack.Name, bb.bizpack.Version, bb.priority, link, fn, ""))
			}
			if len(layer) > 0 {
				c.checkTies(code, s, layer)
				cp.impls = append(cp.impls, layer...)
				break
			}
		}
		// Product layer.
		var layer []*compiledImpl
		for _, ep := range products {
			for _, bb := range c.product(ep.product, ep.origin, ep.args) {
				if bb.point != s {
					continue
				}
				prio := ep.priority
				if bb.priority != nil {
					prio = *bb.priority
				}
				version := cmp.Or(bb.impl.Version, ep.product.Version)
				layer = append(layer, c.compiled(bb.impl, LayerProduct, ep.product.Name, version, prio, ep.origin, bb.fn, bb.key))
			}
		}
		slices.SortStableFunc(layer, func(a, b *compiledImpl) int {
			return cmp.Or(cmp.Compare(b.priority, a.priority), strings.Compare(a.source, b.source), strings.Compare(a.name, b.name))
		})
		c.checkTies(code, s, layer)
		cp.impls = append(cp.impls, layer...)
		// Platform default.
		if d := c.defaults[s.Name]; d != nil {
			cp.impls = append(cp.impls, d)
		}
		cp.remote = slices.ContainsFunc(cp.impls, func(ci *compiledImpl) bool { return ci.remote != nil })
		p.points[s.id] = cp
	}
	p.fulfilment = c.fulfilment(code)
	p.lifecycle = c.lifecycle(code, products, bound, p.fulfilment)
	p.paymentTimeout = c.paymentTimeout(code, products, bound)
	p.returnWindow = c.returnWindow(code, products)
	p.attributes = c.attributes(code, products, bound)
	p.limits = c.purchaseLimits(code)
	c.limitAttributes(code, p.limits, p.attributes)
	return p
}

func bizpackImpl(b Bizpack, point string) Implementation {
	for _, im := range b.Impls {
		if im.Point.Name == point {
			return im
		}
	}
	panic("kernel: bizpack implementation vanished")
}

// checkTies reports two implementations of one layer at one priority on a
// "first" point: which would decide is then a matter of naming, not intent.
func (c *compiler) checkTies(code identity.Code, s *Spec, layer []*compiledImpl) {
	if s.Reducer != ReduceFirst {
		return
	}
	for i := 1; i < len(layer); i++ {
		a, b := layer[i-1], layer[i]
		if a.priority == b.priority {
			c.problem(code, s.Name, "conflict",
				"point %s (first): %s %s binds %s and %s %s binds %s, both at priority %d; give one a higher priority or remove one",
				s.Name, a.layer, a.source, a.name, b.layer, b.source, b.name, a.priority)
		}
	}
}

func (c *compiler) lifecycle(code identity.Code, products []enabledProduct, bound map[identity.Code][]boundBizpack, f *Fulfilment) *lifecycle.Compiled {
	graph := lifecycle.Default()
	apply := func(patch *lifecycle.Patch, by string) {
		if patch == nil {
			return
		}
		next, err := graph.Apply(*patch)
		if err != nil {
			c.problem(code, "", "lifecycle", "lifecycle patch of %s does not apply to graph %q: %v", by, graph.Name, err)
			return
		}
		graph = next
	}
	// Products, lowest priority first, so that the highest shapes last.
	var replacedBy *enabledProduct
	for i := len(products) - 1; i >= 0; i-- {
		ep := &products[i]
		if ep.product.Lifecycle != nil {
			if replacedBy != nil && replacedBy.priority == ep.priority {
				c.problem(code, "", "conflict", "products %s and %s both replace the lifecycle at priority %d; give one a higher priority",
					replacedBy.product.Name, ep.product.Name, ep.priority)
			}
			graph, replacedBy = ep.product.Lifecycle.Clone(), ep
		}
		apply(ep.product.LifecyclePatch, "product "+ep.product.Name)
	}
	// Bizpacks of the nearest identity that binds any, lowest priority first.
	for _, link := range code.Chain() {
		if bbs := bound[link]; len(bbs) > 0 {
			for i := len(bbs) - 1; i >= 0; i-- {
				apply(bbs[i].bizpack.LifecyclePatch, "bizpack "+bbs[i].bizpack.Name)
			}
			break
		}
	}
	// Supplier fulfilment, between the products' and bizpacks' shape and
	// the identities' own patches.
	graph = c.applyFulfilment(code, f, graph)
	// Identity patches, from the farthest ancestor down to the identity.
	chain := code.Chain()
	for i := len(chain) - 1; i >= 0; i-- {
		if spec := c.byCode[chain[i]]; spec != nil {
			apply(spec.LifecyclePatch, "identity "+string(chain[i]))
		}
	}
	compiled, err := lifecycle.Compile(graph, func(name string) (lifecycle.Effect, bool) {
		e, ok := c.snap.effects[name]
		return e, ok
	})
	if err != nil {
		c.problem(code, "", "lifecycle", "lifecycle %q: %v", graph.Name, err)
		return nil
	}
	return compiled
}

func (c *compiler) paymentTimeout(code identity.Code, products []enabledProduct, bound map[identity.Code][]boundBizpack) time.Duration {
	for _, link := range code.Chain() {
		if spec := c.byCode[link]; spec != nil && spec.PaymentTimeout > 0 {
			return time.Duration(spec.PaymentTimeout)
		}
	}
	// The bizpacks of the nearest identity that binds any, highest first.
	for _, link := range code.Chain() {
		if bbs := bound[link]; len(bbs) > 0 {
			for _, bb := range bbs {
				if bb.bizpack.PaymentTimeout > 0 {
					return bb.bizpack.PaymentTimeout
				}
			}
			break
		}
	}
	for _, ep := range products {
		if ep.product.PaymentTimeout > 0 {
			return ep.product.PaymentTimeout
		}
	}
	return DefaultPaymentTimeout
}

// returnWindow is resolved like the payment timeout: the nearest identity
// of the chain that sets one, then the products by priority, then the
// default. Bizpacks do not set it (their manifest has no such field).
func (c *compiler) returnWindow(code identity.Code, products []enabledProduct) time.Duration {
	for _, link := range code.Chain() {
		if spec := c.byCode[link]; spec != nil && spec.ReturnWindow > 0 {
			return time.Duration(spec.ReturnWindow)
		}
	}
	for _, ep := range products {
		if ep.product.ReturnWindow > 0 {
			return ep.product.ReturnWindow
		}
	}
	return DefaultReturnWindow
}

func dedupe(ps []Problem) []Problem {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(strings.Compare(string(a.Identity), string(b.Identity)), strings.Compare(a.Point, b.Point), strings.Compare(a.Message, b.Message))
	})
	seen := map[string]bool{}
	out := ps[:0]
	for _, p := range ps {
		key := p.Kind + "\x00" + p.Point + "\x00" + p.Message
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, p)
	}
	return out
}

func sortCodes(cs []identity.Code) { slices.Sort(cs) }

func sortPlanned(ps []PlannedPoint) {
	slices.SortFunc(ps, func(a, b PlannedPoint) int { return strings.Compare(a.Point, b.Point) })
}
