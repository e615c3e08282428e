package kernel

import (
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/lifecycle"
)

// Plan is the compiled execution plan of one identity: for every point, the
// ordered implementations that run, plus the identity's lifecycle and
// settings. It is immutable.
type Plan struct {
	identity       identity.Code
	name           string
	disabled       bool
	revision       int64
	products       []string
	points         []*compiledPoint // indexed by Spec.id; nil where absent
	lifecycle      *lifecycle.Compiled
	paymentTimeout time.Duration
	returnWindow   time.Duration
	attributes     map[string]extensions.DeclaredAttribute
	limits         []EffectiveLimit
	fulfilment     *Fulfilment
}

type compiledPoint struct {
	spec  *Spec
	impls []*compiledImpl // highest precedence first
	// remote is true when an implementation is served out of process.
	remote bool
}

type compiledImpl struct {
	name     string
	source   string // product or bizpack name; "platform" for defaults
	version  string
	layer    Layer
	priority int
	origin   identity.Code // identity whose configuration put it here
	isolated bool
	fn       any    // Func[Req, Resp] of the point's types
	remote   Remote // set for a bizpack served out of process
	metrics  *implMetrics
}

// Identity is the identity the plan is for.
func (p *Plan) Identity() identity.Code { return p.identity }

// Revision is the configuration revision the plan was compiled from.
func (p *Plan) Revision() int64 { return p.revision }

// Products are the identity's effective products, highest priority first.
func (p *Plan) Products() []string { return append([]string(nil), p.products...) }

// Lifecycle is the identity's compiled order lifecycle.
func (p *Plan) Lifecycle() *lifecycle.Compiled { return p.lifecycle }

// PaymentTimeout is how long an unpaid order of the identity lives.
func (p *Plan) PaymentTimeout() time.Duration { return p.paymentTimeout }

// ReturnWindow is how long after an order of the identity was delivered
// its buyer may open a return.
func (p *Plan) ReturnWindow() time.Duration { return p.returnWindow }

func (p *Plan) point(s *Spec) *compiledPoint {
	if s.id < len(p.points) {
		return p.points[s.id]
	}
	return nil
}

// PlannedImpl is one implementation in a described plan.
type PlannedImpl struct {
	Impl     string `json:"impl"`
	Layer    string `json:"layer"`
	Source   string `json:"source"`
	Version  string `json:"version,omitempty"`
	Priority int    `json:"priority"`
	// Origin is the identity whose configuration contributed it: the plan's
	// own identity, an ancestor, or Root for platform defaults.
	Origin   identity.Code `json:"origin"`
	Isolated bool          `json:"isolated,omitempty"`
}

// PlannedPoint is one point of a described plan, implementations in
// precedence order (highest first; a pipeline runs them in reverse).
type PlannedPoint struct {
	Point   string        `json:"point"`
	Reducer string        `json:"reducer"`
	Policy  string        `json:"policy"`
	Impls   []PlannedImpl `json:"impls"`
}

// Describe lists every point of the plan with its implementations, sorted by
// point name: what the admin console shows as the compiled plan.
func (p *Plan) Describe() []PlannedPoint {
	var out []PlannedPoint
	for _, cp := range p.points {
		if cp == nil {
			continue
		}
		pp := PlannedPoint{Point: cp.spec.Name, Reducer: cp.spec.Reducer.String(), Policy: cp.spec.Policy.String(), Impls: []PlannedImpl{}}
		for _, ci := range cp.impls {
			pp.Impls = append(pp.Impls, PlannedImpl{Impl: ci.name, Layer: ci.layer.String(), Source: ci.source,
				Version: ci.version, Priority: ci.priority, Origin: ci.origin, Isolated: ci.isolated})
		}
		out = append(out, pp)
	}
	sortPlanned(out)
	return out
}

// PlanSet is every plan of one configuration revision, with the resolver of
// that revision. It is immutable.
type PlanSet struct {
	revision int64
	plans    map[identity.Code]*Plan
	resolver *identity.Resolver
}

// Revision is the configuration revision of the set.
func (s *PlanSet) Revision() int64 { return s.revision }

// Plan returns the plan of a configured identity (Root for the platform
// default).
func (s *PlanSet) Plan(code identity.Code) (*Plan, bool) {
	p, ok := s.plans[code]
	return p, ok
}

// Identities lists the configured identities, sorted.
func (s *PlanSet) Identities() []identity.Code {
	out := make([]identity.Code, 0, len(s.plans))
	for c := range s.plans {
		if c != identity.Root {
			out = append(out, c)
		}
	}
	sortCodes(out)
	return out
}

// Resolve maps a request to an identity with this revision's rules.
func (s *PlanSet) Resolve(req identity.Request) (identity.Code, error) {
	return s.resolver.Resolve(req)
}
