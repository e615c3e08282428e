package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tmf-platform/tmf/platform/authz"
	"github.com/tmf-platform/tmf/platform/configs"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/store"
)

// resourceIdentity is the policy's resource type of a business identity.
const resourceIdentity = "identity"

// IdentityList answers GET /v1/admin/identities: the identities the caller
// may read, sorted by code, and the configuration revision in force.
type IdentityList struct {
	Revision int64          `json:"revision"`
	Items    []IdentityView `json:"items"`
}

// IdentityView is one configured business identity as the admin API shows
// it: its own settings, the resolution rules that lead to it, and what it
// ends up with after inheritance.
type IdentityView struct {
	Code string `json:"code"`
	Name string `json:"name"`
	// Parent is the code's parent ("retail" for "retail.vip"); "" at the
	// top level. Unset settings are inherited along this chain.
	Parent         string              `json:"parent"`
	Disabled       bool                `json:"disabled"`
	Products       []kernel.ProductRef `json:"products"`
	Bizpacks       []kernel.BizpackRef `json:"bizpacks"`
	PaymentTimeout string              `json:"paymentTimeout"`
	ReturnWindow   string              `json:"returnWindow"`
	LifecyclePatch *lifecycle.Patch    `json:"lifecyclePatch,omitempty"`
	// PurchaseLimits are the identity's own purchase limits (its
	// ancestors' apply too); absent when it has none.
	PurchaseLimits []kernel.PurchaseLimit `json:"purchaseLimits,omitempty"`
	// Fulfilment is the identity's own supplier fulfilment (deadline,
	// pollEvery); absent when it sets none.
	Fulfilment *kernel.FulfilmentSpec `json:"fulfilment,omitempty"`
	Rules      []RuleView             `json:"rules"`
	Effective  EffectiveView          `json:"effective"`
	Revision   int64                  `json:"revision"`
}

// RuleView is a resolution rule to the identity: every condition set must
// hold; the most specific matching rule wins.
type RuleView struct {
	Channel  string            `json:"channel,omitempty"`
	Category string            `json:"category,omitempty"`
	Buyer    map[string]string `json:"buyer,omitempty"`
}

// EffectiveView is what the identity's plan compiled to.
type EffectiveView struct {
	Products       []string `json:"products"`
	PaymentTimeout string   `json:"paymentTimeout"`
	ReturnWindow   string   `json:"returnWindow"`
}

// IdentityInput is the body of PUT /v1/admin/identities/{code} and of its
// preview: the identity's whole configuration (absent fields are empty, not
// kept) and the resolution rules that lead to it.
type IdentityInput struct {
	Name     string         `json:"name"`
	Disabled bool           `json:"disabled"`
	Products []ProductInput `json:"products"`
	Bizpacks []BizpackInput `json:"bizpacks"`
	// PaymentTimeout such as "15m"; "" inherits.
	PaymentTimeout string `json:"paymentTimeout"`
	// ReturnWindow such as "168h": how long after delivery a return may be
	// opened; "" inherits.
	ReturnWindow   string           `json:"returnWindow"`
	LifecyclePatch *lifecycle.Patch `json:"lifecyclePatch"`
	// PurchaseLimits are the identity's own purchase limits, checked when
	// the configuration compiles (422 config_invalid naming each problem).
	PurchaseLimits []kernel.PurchaseLimit `json:"purchaseLimits"`
	// Fulfilment hands the identity's paid orders to a supplier
	// ({"deadline": "30m", "pollEvery": "1m"}), checked when the
	// configuration compiles; null inherits.
	Fulfilment *kernel.FulfilmentSpec `json:"fulfilment"`
	Rules      []RuleView             `json:"rules"`
}

// ProductInput enables a product, optionally at another priority and with
// other arguments for its binding at a point (a freight template for
// delivery.freight).
type ProductInput struct {
	Name     string         `json:"name"`
	Priority *int           `json:"priority"`
	Args     map[string]any `json:"args"`
}

// BizpackInput binds a bizpack; the higher priority runs first.
type BizpackInput struct {
	Name     string `json:"name"`
	Priority int    `json:"priority"`
}

// IdentitySaved answers a saved change.
type IdentitySaved struct {
	Revision int64        `json:"revision"`
	Identity IdentityView `json:"identity"`
}

// IdentityPreview answers a preview: whether the configuration would
// compile, every problem if not, and otherwise the identity's plan and
// lifecycle as they would be. Nothing is saved.
type IdentityPreview struct {
	Valid     bool             `json:"valid"`
	Problems  []kernel.Problem `json:"problems"`
	Plan      *PlanView        `json:"plan"`
	Lifecycle *LifecycleView   `json:"lifecycle"`
	// TakesTrafficFrom lists the other identities (those the caller may
	// read) whose requests the change's new rules could resolve elsewhere;
	// saving it needs identity.write on every identity it takes from.
	TakesTrafficFrom []string `json:"takesTrafficFrom"`
}

// PlanView is an identity's compiled execution plan: for every extension
// point, the implementations in precedence order, with the layer and the
// identity each comes from.
type PlanView struct {
	Identity       string                `json:"identity"`
	Revision       int64                 `json:"revision"`
	Products       []string              `json:"products"`
	PaymentTimeout string                `json:"paymentTimeout"`
	ReturnWindow   string                `json:"returnWindow"`
	Points         []kernel.PlannedPoint `json:"points"`
}

// LifecycleView is an identity's compiled lifecycle: states, transitions
// (one per event and source state), the order.guard implementations asked
// before every transition, and the graph in Mermaid syntax.
type LifecycleView struct {
	Identity    string               `json:"identity"`
	Revision    int64                `json:"revision"`
	Name        string               `json:"name"`
	Initial     string               `json:"initial"`
	States      []lifecycle.State    `json:"states"`
	Transitions []TransitionView     `json:"transitions"`
	Guards      []kernel.PlannedImpl `json:"guards"`
	Mermaid     string               `json:"mermaid"`
}

// TransitionView is one (from, event) → to transition.
type TransitionView struct {
	Event   string   `json:"event"`
	From    string   `json:"from"`
	To      string   `json:"to"`
	Effects []string `json:"effects"`
	Doc     string   `json:"doc,omitempty"`
}

// auditedIdentity is what the audit log keeps of an identity.
type auditedIdentity struct {
	Identity kernel.IdentitySpec `json:"identity"`
	Rules    []RuleView          `json:"rules"`
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func rulesView(rules []identity.Rule) []RuleView {
	out := make([]RuleView, 0, len(rules))
	for _, r := range rules {
		out = append(out, RuleView{Channel: r.Channel, Category: r.Category, Buyer: r.Buyer})
	}
	return out
}

// identityView builds the view of code from cfg and, when given, its plans.
func identityView(cfg kernel.Config, plans *kernel.PlanSet, spec kernel.IdentitySpec, rules []identity.Rule) IdentityView {
	v := IdentityView{Code: string(spec.Code), Name: spec.Name, Parent: string(spec.Code.Parent()), Disabled: spec.Disabled,
		Products: nonNil(spec.Products), Bizpacks: nonNil(spec.Bizpacks), PaymentTimeout: durationText(time.Duration(spec.PaymentTimeout)),
		ReturnWindow:   durationText(time.Duration(spec.ReturnWindow)),
		LifecyclePatch: spec.LifecyclePatch, PurchaseLimits: spec.PurchaseLimits, Fulfilment: spec.Fulfilment, Rules: rulesView(rules),
		Revision:  cfg.Revision,
		Effective: EffectiveView{Products: []string{}}}
	if plans != nil {
		if p, ok := plans.Plan(spec.Code); ok {
			v.Effective = EffectiveView{Products: nonNil(p.Products()), PaymentTimeout: durationText(p.PaymentTimeout()),
				ReturnWindow: durationText(p.ReturnWindow())}
		}
	}
	return v
}

func identityNotFound(code string) *Problem {
	return problem(CodeIdentityNotFound, map[string]any{"identity": code}, "no business identity %q is configured", code)
}

// configSource is the API's source of the configuration; nil when the
// server runs without a kernel.
func (s *Server) configSource() (*configs.Source, error) {
	if s.configs == nil {
		return nil, problem(CodeNotFound, nil, "this server has no configuration to show")
	}
	return s.configs, nil
}

// identityDecision asks the policy about action on the identity code. Its
// Visible is not used: an identity has no buyer, and the policy's visible
// rule shows every unowned resource to every role, so who may know an
// identity exists is who may read it (mayReadIdentity).
func (s *Server) identityDecision(c echo.Context, action, code string) (authz.Decision, error) {
	return s.decide(c, authz.Input{Principal: principalOf(c).subject(), Action: action,
		Resource: &authz.Resource{Type: resourceIdentity, ID: code, BizCode: code}})
}

// mayReadIdentity asks the policy whether the caller may read the
// identity (identity.read): an identity it may not read is one it may not
// know of either, so the API answers 404 for it. A failing policy denies.
func (s *Server) mayReadIdentity(c echo.Context, code string) bool {
	d, err := s.identityDecision(c, ActionIdentityRead, code)
	return err == nil && d.Allow
}

// readableIdentity loads the identity of the URL: 404 when it is not
// configured or the caller may not read it, 403 when it may read it but
// not take action.
func (s *Server) readableIdentity(c echo.Context, action string) (*configs.Source, kernel.IdentitySpec, []identity.Rule, error) {
	src, err := s.configSource()
	if err != nil {
		return nil, kernel.IdentitySpec{}, nil, err
	}
	code := c.Param("code")
	spec, rules, ok := configs.Identity(src.Current(), identity.Code(code))
	if !ok {
		return nil, kernel.IdentitySpec{}, nil, identityNotFound(code)
	}
	if !s.mayReadIdentity(c, code) {
		return nil, kernel.IdentitySpec{}, nil, identityNotFound(code)
	}
	if action != ActionIdentityRead {
		if d, err := s.identityDecision(c, action, code); err != nil || !d.Allow {
			return nil, kernel.IdentitySpec{}, nil, problem(CodeForbidden, map[string]any{"action": action},
				forbiddenActionPattern+" on identity %s", principalOf(c).ID, action, code)
		}
	}
	setBizCode(c, code)
	return src, spec, rules, nil
}

// listIdentities answers the identities the caller may read.
func (s *Server) listIdentities(c echo.Context) error {
	src, err := s.configSource()
	if err != nil {
		return err
	}
	cfg := src.Current()
	plans := s.kernel.Plans()
	out := IdentityList{Revision: cfg.Revision, Items: []IdentityView{}}
	specs := slices.Clone(cfg.Identities)
	slices.SortFunc(specs, func(a, b kernel.IdentitySpec) int { return strings.Compare(string(a.Code), string(b.Code)) })
	for _, spec := range specs {
		if !s.mayReadIdentity(c, string(spec.Code)) {
			continue
		}
		_, rules, _ := configs.Identity(cfg, spec.Code)
		out.Items = append(out.Items, identityView(cfg, plans, spec, rules))
	}
	return c.JSON(http.StatusOK, out)
}

// getIdentity answers one identity, with its revision as the ETag.
func (s *Server) getIdentity(c echo.Context) error {
	src, spec, rules, err := s.readableIdentity(c, ActionIdentityRead)
	if err != nil {
		return err
	}
	cfg := src.Current()
	c.Response().Header().Set("ETag", etag(cfg.Revision))
	return c.JSON(http.StatusOK, identityView(cfg, s.kernel.Plans(), spec, rules))
}

func etag(revision int64) string { return `"` + strconv.FormatInt(revision, 10) + `"` }

// ifMatch reads the If-Match header: the revision the caller edited from,
// 0 when absent (last writer wins).
func ifMatch(c echo.Context) (int64, error) {
	h := strings.TrimSpace(c.Request().Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	if err != nil || n <= 0 {
		return 0, problem(CodeInvalidRequest, map[string]any{"header": "If-Match"},
			"If-Match must be the ETag of the identity you edited, such as \"12\"; got %q", h)
	}
	return n, nil
}

// identityInput reads and checks the body of a put or preview, and turns it
// into the identity's configuration and rules.
func (s *Server) identityInput(c echo.Context, code string) (kernel.IdentitySpec, []identity.Rule, error) {
	if err := identity.Code(code).Validate(); err != nil || code == "" {
		return kernel.IdentitySpec{}, nil, problem(CodeInvalidIdentity, map[string]any{"field": "code"},
			"%q is not a business identity code: dot-separated levels (retail.vip), each starting with a lowercase letter, "+
				"then lowercase letters, digits, '-' or '_'; at most 8 levels and 128 bytes", code)
	}
	raw, err := readBody(c, s.limits.MaxBodyBytes)
	if err != nil {
		return kernel.IdentitySpec{}, nil, err
	}
	var in IdentityInput
	if err := decodeStrict(raw, &in, decodeOptions{}); err != nil {
		return kernel.IdentitySpec{}, nil, err
	}
	spec := kernel.IdentitySpec{Code: identity.Code(code), Name: strings.TrimSpace(in.Name), Disabled: in.Disabled, LifecyclePatch: in.LifecyclePatch,
		PurchaseLimits: in.PurchaseLimits, Fulfilment: in.Fulfilment}
	if len(spec.Name) > 200 {
		return kernel.IdentitySpec{}, nil, invalidIdentityField("name", "name must be at most 200 characters")
	}
	if in.PaymentTimeout != "" {
		d, err := time.ParseDuration(in.PaymentTimeout)
		if err != nil || d <= 0 {
			return kernel.IdentitySpec{}, nil, invalidIdentityField("paymentTimeout",
				"paymentTimeout must be a positive duration such as 15m or 2h, or empty to inherit; got "+strconv.Quote(in.PaymentTimeout))
		}
		spec.PaymentTimeout = kernel.Duration(d)
	}
	if in.ReturnWindow != "" {
		d, err := time.ParseDuration(in.ReturnWindow)
		if err != nil || d <= 0 {
			return kernel.IdentitySpec{}, nil, invalidIdentityField("returnWindow",
				"returnWindow must be a positive duration such as 168h, or empty to inherit; got "+strconv.Quote(in.ReturnWindow))
		}
		spec.ReturnWindow = kernel.Duration(d)
	}
	for i, p := range in.Products {
		if p.Name == "" {
			return kernel.IdentitySpec{}, nil, invalidIdentityField("products["+strconv.Itoa(i)+"].name", "every product needs a name")
		}
		ref := kernel.ProductRef{Name: p.Name, Priority: p.Priority}
		if len(p.Args) > 0 {
			ref.Args = map[string]json.RawMessage{}
			for point, a := range p.Args {
				b, err := json.Marshal(a)
				if err != nil {
					return kernel.IdentitySpec{}, nil, invalidIdentityField("products["+strconv.Itoa(i)+"].args."+point, err.Error())
				}
				ref.Args[point] = b
			}
		}
		spec.Products = append(spec.Products, ref)
	}
	for i, b := range in.Bizpacks {
		if b.Name == "" {
			return kernel.IdentitySpec{}, nil, invalidIdentityField("bizpacks["+strconv.Itoa(i)+"].name", "every bizpack needs a name")
		}
		spec.Bizpacks = append(spec.Bizpacks, kernel.BizpackRef{Name: b.Name, Priority: b.Priority})
	}
	rules := make([]identity.Rule, 0, len(in.Rules))
	for _, r := range in.Rules {
		rules = append(rules, identity.Rule{Identity: spec.Code, Channel: r.Channel, Category: r.Category, Buyer: r.Buyer})
	}
	return spec, rules, nil
}

func invalidIdentityField(field, detail string) *Problem {
	return problem(CodeInvalidIdentity, map[string]any{"field": field}, "%s", detail)
}

// writableIdentity authorises a put or preview of the identity of the URL:
// an existing identity the caller may not know of is 404; writing it, or
// creating a new one, without permission is 403.
func (s *Server) writableIdentity(c echo.Context) (*configs.Source, string, bool, error) {
	src, err := s.configSource()
	if err != nil {
		return nil, "", false, err
	}
	code := c.Param("code")
	_, _, exists := configs.Identity(src.Current(), identity.Code(code))
	p := principalOf(c)
	d, err := s.identityDecision(c, ActionIdentityWrite, code)
	if err != nil {
		return nil, "", false, problem(CodeForbidden, map[string]any{"action": ActionIdentityWrite}, policyDeniedDetail)
	}
	if exists && !s.mayReadIdentity(c, code) {
		return nil, "", false, identityNotFound(code)
	}
	if !d.Allow {
		return nil, "", false, problem(CodeForbidden, map[string]any{"action": ActionIdentityWrite},
			forbiddenActionPattern+" on identity %s", p.ID, ActionIdentityWrite, code)
	}
	if !exists {
		create, err := s.decide(c, authz.Input{Principal: p.subject(), Action: ActionIdentityCreate})
		if err != nil || !create.Allow {
			return nil, "", false, problem(CodeForbidden, map[string]any{"action": ActionIdentityCreate},
				forbiddenActionPattern, p.ID, ActionIdentityCreate)
		}
	}
	setBizCode(c, code)
	return src, code, exists, nil
}

// putIdentity creates or changes an identity: the whole configuration with
// the change must compile (422 config_invalid with every problem, nothing
// saved), the identity must be as it was in the revision edited from
// (If-Match; changes to other identities meanwhile do not matter, else 412
// config_stale), and the new revision is saved with its audit entry in one
// transaction before it is put in force.
func (s *Server) putIdentity(c echo.Context) error {
	src, code, exists, err := s.writableIdentity(c)
	if err != nil {
		return err
	}
	base, err := ifMatch(c)
	if err != nil {
		return err
	}
	// Changing an identity needs the ETag it was read with (or "*" to
	// overwrite knowingly), so that two editors cannot silently undo each
	// other; creating one needs none, and If-None-Match: * makes sure it
	// creates.
	hdr := c.Request().Header
	switch {
	case exists && strings.TrimSpace(hdr.Get("If-None-Match")) == "*":
		return problem(CodeConfigStale, map[string]any{"currentRevision": src.Current().Revision},
			"identity %s exists (If-None-Match: *): reload it and change it with If-Match", code)
	case exists && strings.TrimSpace(hdr.Get("If-Match")) == "":
		return problem(CodePreconditionRequired, map[string]any{"header": "If-Match"},
			"send If-Match with the ETag of the identity you edited (GET it first), or * to overwrite it whatever it is")
	}
	spec, rules, err := s.identityInput(c, code)
	if err != nil {
		return err
	}
	if err := s.mayChangeDescendants(c, src, spec, rules); err != nil {
		return err
	}
	if err := s.mayTakeTraffic(c, src.Current(), spec.Code, rules); err != nil {
		return err
	}
	p := principalOf(c)
	verb := "update"
	if !exists {
		verb = "create"
	}
	next, err := src.Change(c.Request().Context(), base, p.ID, configs.PutIdentity(spec, rules), configs.IdentityUnchanged(spec.Code),
		func(before, after kernel.Config) []store.AuditEntry {
			e := s.auditEntry(c, ActionIdentityWrite, verb, resourceIdentity, code, nil, nil)
			if b, r, ok := configs.Identity(before, spec.Code); ok {
				e.Before = mustJSON(auditedIdentity{Identity: b, Rules: rulesView(r)})
			}
			a, r, _ := configs.Identity(after, spec.Code)
			e.After = mustJSON(auditedIdentity{Identity: a, Rules: rulesView(r)})
			return []store.AuditEntry{e}
		})
	if se := (*configs.StaleError)(nil); errors.As(err, &se) {
		return problem(CodeConfigStale, map[string]any{"currentRevision": se.Current},
			"the configuration changed since revision %d (now %d): reload the identity and apply your change again", se.Base, se.Current)
	}
	if err != nil {
		return configProblem(err)
	}
	saved, savedRules, _ := configs.Identity(next, spec.Code)
	c.Response().Header().Set("ETag", etag(next.Revision))
	status := http.StatusOK
	if !exists {
		status = http.StatusCreated
	}
	return c.JSON(status, IdentitySaved{Revision: next.Revision, Identity: identityView(next, s.kernel.Plans(), saved, savedRules)})
}

// mayChangeDescendants refuses a change that takes effect on identities
// below the one written (their plan or lifecycle would change: children
// inherit products, bizpacks, lifecycle patches and timeouts) unless the
// caller may write each of them too. Identities the caller may not read are
// not named.
func (s *Server) mayChangeDescendants(c echo.Context, src *configs.Source, spec kernel.IdentitySpec, rules []identity.Rule) error {
	cur := src.Current()
	var below []identity.Code
	for _, other := range cur.Identities {
		if other.Code != spec.Code && slices.Contains(other.Code.Chain(), spec.Code) {
			below = append(below, other.Code)
		}
	}
	if len(below) == 0 {
		return nil
	}
	_, next, err := src.Preview(c.Request().Context(), configs.PutIdentity(spec, rules))
	if err != nil {
		return configProblem(err)
	}
	plans := s.kernel.Plans()
	var named []string
	hidden := 0
	for _, code := range below {
		before, okBefore := plans.Plan(code)
		after, okAfter := next.Plan(code)
		if okBefore && okAfter && planShape(before) == planShape(after) {
			continue
		}
		if d, err := s.identityDecision(c, ActionIdentityWrite, string(code)); err == nil && d.Allow {
			continue
		}
		if s.mayReadIdentity(c, string(code)) {
			named = append(named, string(code))
		} else {
			hidden++
		}
	}
	if len(named) == 0 && hidden == 0 {
		return nil
	}
	detail := "the change takes effect on identities below " + string(spec.Code) + " that you may not change"
	if len(named) > 0 {
		detail += ": " + strings.Join(named, ", ")
	}
	return problem(CodeForbidden, map[string]any{"action": ActionIdentityWrite}, "%s", detail)
}

// trafficTaken is every other identity whose requests the rules of code,
// as written, could resolve elsewhere: those the rules new to code overlap
// and are at least as specific as (identity.TakesFrom).
func trafficTaken(cur kernel.Config, code identity.Code, rules []identity.Rule) []identity.Code {
	var own, others []identity.Rule
	for _, r := range cur.Rules {
		if r.Identity == code {
			own = append(own, r)
		} else {
			others = append(others, r)
		}
	}
	var out []identity.Code
	for _, r := range rules {
		if slices.ContainsFunc(own, func(o identity.Rule) bool { return o.String() == r.String() }) {
			continue
		}
		for _, from := range identity.TakesFrom(others, r) {
			if !slices.Contains(out, from) {
				out = append(out, from)
			}
		}
	}
	slices.Sort(out)
	return out
}

// mayTakeTraffic refuses new rules that would take requests from identities
// the caller may not change: an operator of one identity could otherwise
// capture another's orders with a more specific rule.
func (s *Server) mayTakeTraffic(c echo.Context, cur kernel.Config, code identity.Code, rules []identity.Rule) error {
	var named []string
	refused := false
	for _, from := range trafficTaken(cur, code, rules) {
		if d, err := s.identityDecision(c, ActionIdentityWrite, string(from)); err == nil && d.Allow {
			continue
		}
		refused = true
		if s.mayReadIdentity(c, string(from)) {
			named = append(named, string(from))
		}
	}
	if !refused {
		return nil
	}
	detail := "the rules of " + string(code) + " would take requests that now resolve to identities you may not change"
	if len(named) > 0 {
		detail += ": " + strings.Join(named, ", ")
	}
	return problem(CodeForbidden, map[string]any{"action": ActionIdentityWrite}, "%s", detail)
}

// planShape is what an identity's plan and lifecycle do, without the
// revision they were compiled from.
func planShape(p *kernel.Plan) string {
	return string(mustJSON(planView(p, 0))) + string(mustJSON(lifecycleView(p, 0)))
}

// configProblem turns a refused configuration into 422 config_invalid with
// every problem as a member, so that a client can show each one.
func configProblem(err error) error {
	var ce *kernel.ConfigError
	if errors.As(err, &ce) {
		return problem(kernel.CodeConfigInvalid, map[string]any{"problems": ce.Problems},
			"the configuration does not compile (%d problems); nothing was saved", len(ce.Problems))
	}
	return err
}

// previewIdentity compiles the configuration with the change and answers
// the identity's plan and lifecycle, or every problem; nothing is saved.
func (s *Server) previewIdentity(c echo.Context) error {
	src, code, _, err := s.writableIdentity(c)
	if err != nil {
		return err
	}
	spec, rules, err := s.identityInput(c, code)
	if err != nil {
		return err
	}
	next, plans, err := src.Preview(c.Request().Context(), configs.PutIdentity(spec, rules))
	var ce *kernel.ConfigError
	switch {
	case errors.As(err, &ce):
		return c.JSON(http.StatusOK, IdentityPreview{Valid: false, Problems: ce.Problems, TakesTrafficFrom: []string{}})
	case err != nil:
		return configProblem(err)
	}
	plan, ok := plans.Plan(spec.Code)
	if !ok {
		return identityNotFound(code)
	}
	pv, lv := planView(plan, next.Revision), lifecycleView(plan, next.Revision)
	taken := []string{}
	for _, code := range trafficTaken(src.Current(), spec.Code, rules) {
		if s.mayReadIdentity(c, string(code)) {
			taken = append(taken, string(code))
		}
	}
	return c.JSON(http.StatusOK, IdentityPreview{Valid: true, Problems: []kernel.Problem{}, Plan: &pv, Lifecycle: &lv, TakesTrafficFrom: taken})
}

func planView(p *kernel.Plan, revision int64) PlanView {
	return PlanView{Identity: string(p.Identity()), Revision: revision, Products: nonNil(p.Products()),
		PaymentTimeout: durationText(p.PaymentTimeout()), ReturnWindow: durationText(p.ReturnWindow()), Points: nonNil(p.Describe())}
}

func lifecycleView(p *kernel.Plan, revision int64) LifecycleView {
	g := p.Lifecycle().Graph()
	v := LifecycleView{Identity: string(p.Identity()), Revision: revision, Name: g.Name, Initial: g.Initial,
		States: g.States, Transitions: []TransitionView{}, Guards: []kernel.PlannedImpl{}, Mermaid: g.Mermaid()}
	for _, e := range g.Events {
		for _, from := range e.From {
			v.Transitions = append(v.Transitions, TransitionView{Event: e.Name, From: from, To: e.To, Effects: nonNil(e.Effects), Doc: e.Doc})
		}
	}
	for _, pt := range p.Describe() {
		if pt.Point == guardPoint {
			v.Guards = pt.Impls
		}
	}
	return v
}

// guardPoint is the extension point asked before every lifecycle
// transition.
const guardPoint = "order.guard"

// identityPlan answers an identity's compiled plan in force.
func (s *Server) identityPlan(c echo.Context) error {
	plan, err := s.planOf(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, planView(plan, s.kernel.Plans().Revision()))
}

// identityLifecycle answers an identity's compiled lifecycle in force.
func (s *Server) identityLifecycle(c echo.Context) error {
	plan, err := s.planOf(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, lifecycleView(plan, s.kernel.Plans().Revision()))
}

func (s *Server) planOf(c echo.Context) (*kernel.Plan, error) {
	if _, _, _, err := s.readableIdentity(c, ActionIdentityRead); err != nil {
		return nil, err
	}
	plan, ok := s.kernel.Plans().Plan(identity.Code(c.Param("code")))
	if !ok {
		return nil, identityNotFound(c.Param("code"))
	}
	return plan, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
