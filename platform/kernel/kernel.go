package kernel

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tmf-platform/tmf/platform/identity"
)

// Kernel holds the plans in force and begins operations on them.
type Kernel struct {
	cat     *Catalogue
	reg     *Registry
	metrics *Metrics

	applyMu sync.Mutex // serialises Apply; readers never wait
	current atomic.Pointer[PlanSet]
	config  atomic.Pointer[Config]
}

// Option configures a Kernel.
type Option func(*kernelOptions)

type kernelOptions struct {
	registerer prometheus.Registerer
	noMetrics  bool
}

// WithRegisterer registers the kernel's metrics with reg instead of a
// private registry.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(o *kernelOptions) { o.registerer = reg }
}

// WithoutMetrics turns metrics off (the trace is still kept).
func WithoutMetrics() Option { return func(o *kernelOptions) { o.noMetrics = true } }

// New returns a kernel for the points of cat and the implementations of reg,
// with the plans of an empty configuration (revision 0: platform defaults
// only) in force.
func New(cat *Catalogue, reg *Registry, opts ...Option) (*Kernel, error) {
	var o kernelOptions
	for _, opt := range opts {
		opt(&o)
	}
	k := &Kernel{cat: cat, reg: reg}
	if !o.noMetrics {
		if o.registerer == nil {
			o.registerer = prometheus.NewRegistry()
		}
		m, err := NewMetrics(o.registerer)
		if err != nil {
			return nil, err
		}
		k.metrics = m
	}
	if _, err := k.Apply(Config{}); err != nil {
		return nil, err
	}
	return k, nil
}

// Catalogue is the kernel's catalogue of points.
func (k *Kernel) Catalogue() *Catalogue { return k.cat }

// Registry is the kernel's registry of implementations.
func (k *Kernel) Registry() *Registry { return k.reg }

// Compile compiles cfg against the registry as it is now, without putting
// the result in force: what the admin console uses to show a plan and its
// conflicts before saving. A refused configuration is a *ConfigError.
func (k *Kernel) Compile(cfg Config) (*PlanSet, error) {
	return compile(k.cat, k.reg.snapshot(), cfg, k.metrics)
}

// Apply compiles cfg and, if it compiles, puts it in force atomically.
// Operations already begun finish on the plans they began with. A refused
// configuration (*ConfigError) leaves the plans in force untouched.
func (k *Kernel) Apply(cfg Config) (*PlanSet, error) {
	k.applyMu.Lock()
	defer k.applyMu.Unlock()
	return k.applyLocked(cfg)
}

func (k *Kernel) applyLocked(cfg Config) (*PlanSet, error) {
	set, err := k.Compile(cfg)
	if err != nil {
		return nil, err
	}
	k.current.Store(set)
	k.config.Store(&cfg)
	return set, nil
}

// Recompile compiles the configuration in force again, for when the
// registry changed (a new bizpack version), and puts it in force if it
// still compiles.
func (k *Kernel) Recompile() (*PlanSet, error) {
	k.applyMu.Lock()
	defer k.applyMu.Unlock()
	return k.applyLocked(*k.config.Load())
}

// Plans returns the plans in force.
func (k *Kernel) Plans() *PlanSet { return k.current.Load() }

// Config returns the configuration in force.
func (k *Kernel) Config() Config { return *k.config.Load() }

// Begin starts an operation of an identity on the plans in force.
func (k *Kernel) Begin(ctx context.Context, code identity.Code) (*Operation, error) {
	return k.current.Load().Begin(ctx, code)
}

// Continue starts an operation on something an identity already has under
// way (an order's lifecycle event, its payment, its timeout), on the plans
// in force. Unlike Begin it also serves a disabled identity: disabling
// stops new business, not the orders already taken, whose stock and money
// must still move to an end.
func (k *Kernel) Continue(ctx context.Context, code identity.Code) (*Operation, error) {
	return k.current.Load().Continue(ctx, code)
}

// Resolve resolves a request to its identity and begins an operation on it,
// both on the same plans.
func (k *Kernel) Resolve(ctx context.Context, req identity.Request) (*Operation, error) {
	set := k.current.Load()
	code, err := set.Resolve(req)
	if err != nil {
		return nil, err
	}
	return set.Begin(ctx, code)
}

// Begin starts an operation of an identity on this plan set. An identity
// that is not configured is an *identity.UnknownError; a disabled one a
// *DisabledError.
func (s *PlanSet) Begin(ctx context.Context, code identity.Code) (*Operation, error) {
	p, ok := s.plans[code]
	if !ok {
		return nil, &identity.UnknownError{Code: code}
	}
	if p.disabled {
		return nil, &DisabledError{Identity: code}
	}
	return newOperation(ctx, p), nil
}

// Continue is Begin for what an identity already has under way: a disabled
// identity is served too (see Kernel.Continue). An identity that is not
// configured is an *identity.UnknownError.
func (s *PlanSet) Continue(ctx context.Context, code identity.Code) (*Operation, error) {
	p, ok := s.plans[code]
	if !ok {
		return nil, &identity.UnknownError{Code: code}
	}
	return newOperation(ctx, p), nil
}

// Standalone returns a kernel of just these points with these platform
// defaults and the plans of an empty configuration: what a domain's tests, or
// a tool that exercises a few points, need without the whole catalogue.
func Standalone(points []Point, defaults []Implementation, opts ...Option) (*Kernel, error) {
	cat := NewCatalogue()
	if err := cat.Add(points...); err != nil {
		return nil, err
	}
	reg := NewRegistry(cat)
	if err := reg.SetDefault(defaults...); err != nil {
		return nil, err
	}
	return New(cat, reg, opts...)
}
