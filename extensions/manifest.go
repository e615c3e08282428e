package extensions

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The bizpack protocol version. The major version gates the plugin
// handshake: a host and a bizpack of different majors refuse each other
// before any call. Minor versions only add: new optional fields in requests
// and responses (old readers ignore them, new readers see zero values from
// old writers) and new points (which an older bizpack simply does not
// implement). A bizpack built against an older minor keeps working with a
// newer host; a bizpack built against a newer minor works with an older host
// as long as its manifest names only points the host knows.
//
// Minor 2 added order attributes: Manifest.Attributes, and Attributes on the
// requests of the points that see an order (empty from an older host).
// Minor 3 added supplier fulfilment: the fulfilment.dispatch and
// fulfilment.query points.
const (
	ProtocolMajor = 1
	ProtocolMinor = 3
)

// Manifest is what a bizpack declares about itself: its name and version,
// the business identities it is built for, the points it implements with
// their types, and how it shapes the order lifecycle of the identities that
// bind it. It is usually kept in a bizpack.json file beside main.go and
// embedded into the binary.
type Manifest struct {
	// Name identifies the bizpack in the platform's configuration:
	// lowercase letters, digits and dashes ("flash-sale").
	Name string `json:"name"`
	// Version is the bizpack's own version, shown in traces and the admin
	// console ("1.4.2").
	Version string `json:"version"`
	// Identities are the business identities the bizpack is built for; an
	// identity may bind it if it is one of them or a descendant. Empty
	// means any identity.
	Identities []string `json:"identities,omitempty"`
	// Points are the points the bizpack implements. Request and Response
	// may be left empty in the file; Serve fills them in from the
	// implementations, and the platform refuses a bizpack whose types are
	// not the ones it has.
	Points []PointTypes `json:"points"`
	// Lifecycle, if set, patches the order lifecycle of the identities that
	// bind the bizpack: an added review step, a removed shipping step.
	Lifecycle *LifecyclePatch `json:"lifecycle,omitempty"`
	// PaymentTimeout, if set, is how long an unpaid order of the binding
	// identities lives ("2m"), unless the identity sets its own.
	PaymentTimeout string `json:"paymentTimeout,omitempty"`
	// Network asks for outbound network access. Without it a host that
	// can (Linux, Landlock ABI 4 or later) lets the bizpack neither
	// connect nor bind a TCP socket. A host that predates the field
	// ignores it (and restricts no network).
	Network bool `json:"network,omitempty"`
	// Attributes, if set, declares the order attributes of the identities
	// that bind the bizpack (see AttributeSchema). Since protocol 1.2.
	Attributes *AttributeSchema `json:"attributes,omitempty"`
	// Protocol is "major.minor" of the contract the bizpack was built
	// against; Serve fills it in.
	Protocol string `json:"protocol,omitempty"`
}

// LifecyclePatch shapes an order lifecycle graph. Names refer to the graph
// the platform and the identity's products produced (see docs/concepts.md
// for the default graph).
type LifecyclePatch struct {
	// RemoveStates removes states, and the events that then lead nowhere.
	RemoveStates []string `json:"removeStates,omitempty"`
	// AddStates adds states.
	AddStates []LifecycleState `json:"addStates,omitempty"`
	// RemoveEvents removes events by name.
	RemoveEvents []string `json:"removeEvents,omitempty"`
	// AddEvents adds events.
	AddEvents []LifecycleEvent `json:"addEvents,omitempty"`
	// Retarget maps an event name to its new target state.
	Retarget map[string]string `json:"retarget,omitempty"`
	// Name renames the resulting graph.
	Name string `json:"name,omitempty"`
}

// LifecycleState is one state of an order lifecycle.
type LifecycleState struct {
	Name     string `json:"name"`
	Terminal bool   `json:"terminal,omitempty"`
	Doc      string `json:"doc,omitempty"`
}

// LifecycleEvent moves an order from any of its From states to To, running
// the platform's named Effects in order.
type LifecycleEvent struct {
	Name    string   `json:"name"`
	From    []string `json:"from"`
	To      string   `json:"to"`
	Effects []string `json:"effects,omitempty"`
	Doc     string   `json:"doc,omitempty"`
}

var bizpackName = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// ParseManifest reads a manifest strictly: unknown fields are an error, so
// a typo in bizpack.json does not go unnoticed.
func ParseManifest(data []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	if dec.More() {
		return Manifest{}, errors.New("manifest: trailing data after the JSON object")
	}
	return m, nil
}

// Check reports every problem of the manifest against this version of the
// contract: a malformed name, a missing version, a point named twice, a
// point the contract does not know or with types other than the
// contract's, a malformed payment timeout. The error lists them all.
func (m Manifest) Check() error {
	return m.check(func(p string) (PointTypes, bool) { return TypesOf(p) })
}

// CheckAgainst is Check against another table of points: what a host uses
// with its own catalogue, which may be of another minor version.
func (m Manifest) CheckAgainst(lookup func(point string) (PointTypes, bool)) error {
	return m.check(lookup)
}

func (m Manifest) check(lookup func(string) (PointTypes, bool)) error {
	var problems []string
	if !bizpackName.MatchString(m.Name) {
		problems = append(problems, fmt.Sprintf("name %q must be lowercase letters, digits and dashes, like \"flash-sale\"", m.Name))
	}
	if strings.TrimSpace(m.Version) == "" {
		problems = append(problems, "version is required")
	}
	if len(m.Points) == 0 && m.Lifecycle == nil && m.PaymentTimeout == "" && m.Attributes == nil {
		problems = append(problems, "the manifest implements no point and shapes nothing")
	}
	seen := map[string]bool{}
	for _, p := range m.Points {
		if seen[p.Point] {
			problems = append(problems, fmt.Sprintf("point %s is named twice", p.Point))
			continue
		}
		seen[p.Point] = true
		want, ok := lookup(p.Point)
		if !ok {
			problems = append(problems, fmt.Sprintf("unknown point %s", p.Point))
			continue
		}
		if p.Request != "" && p.Request != want.Request || p.Response != "" && p.Response != want.Response {
			problems = append(problems, fmt.Sprintf("point %s takes %s and answers %s, the manifest says %s → %s",
				p.Point, want.Request, want.Response, orUnset(p.Request), orUnset(p.Response)))
		}
	}
	for _, id := range m.Identities {
		if strings.TrimSpace(id) == "" || strings.ContainsAny(id, " \t/") {
			problems = append(problems, fmt.Sprintf("identity %q is not a business identity code like \"virtual.topup\"", id))
		}
	}
	if m.PaymentTimeout != "" {
		if d, err := time.ParseDuration(m.PaymentTimeout); err != nil || d <= 0 {
			problems = append(problems, fmt.Sprintf("paymentTimeout %q must be a positive duration like \"2m\"", m.PaymentTimeout))
		}
	}
	if m.Attributes != nil {
		problems = append(problems, m.Attributes.Check()...)
	}
	if len(problems) == 0 {
		return nil
	}
	return &ManifestError{Bizpack: m.Name, Problems: problems}
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// ManifestError lists every problem of a manifest.
type ManifestError struct {
	Bizpack  string
	Problems []string
}

func (e *ManifestError) Error() string {
	name := e.Bizpack
	if name == "" {
		name = "(unnamed)"
	}
	return fmt.Sprintf("bizpack %s: manifest refused: %s", name, strings.Join(e.Problems, "; "))
}

// Implements reports whether the manifest names the point.
func (m Manifest) Implements(point string) bool {
	return slices.ContainsFunc(m.Points, func(p PointTypes) bool { return p.Point == point })
}
