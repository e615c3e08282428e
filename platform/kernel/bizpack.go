package kernel

import (
	"fmt"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/lifecycle"
)

// CheckManifest checks a bizpack's manifest against the catalogue: every
// point it names must be one of the catalogue's, with the catalogue's
// request and response types. The error (an *extensions.ManifestError)
// lists every problem.
func (c *Catalogue) CheckManifest(m extensions.Manifest) error {
	return m.CheckAgainst(func(point string) (extensions.PointTypes, bool) {
		s, ok := c.Lookup(point)
		if !ok {
			return extensions.PointTypes{}, false
		}
		return extensions.PointTypes{Point: point, Request: s.Request.Name(), Response: s.Response.Name()}, true
	})
}

// RemoteBizpack is the kernel's view of a bizpack served by r, as its
// manifest describes it. A manifest that does not check against the
// catalogue is refused with every problem named.
func RemoteBizpack(cat *Catalogue, m extensions.Manifest, r Remote) (Bizpack, error) {
	b, err := bizpackOf(cat, m)
	if err != nil {
		return Bizpack{}, err
	}
	for _, p := range m.Points {
		s, _ := cat.Lookup(p.Point)
		b.Impls = append(b.Impls, s.RemoteImpl(m.Name+":"+p.Point, r).WithVersion(m.Version))
	}
	return b, nil
}

// InProcessBizpack is the kernel's view of a bizpack whose implementations
// run in the server's process (isolated: own goroutine, point deadline):
// for tests and benchmarks, and for comparing a bizpack with its plugin.
func InProcessBizpack(cat *Catalogue, eb *extensions.Bizpack) (Bizpack, error) {
	if err := eb.Err(); err != nil {
		return Bizpack{}, err
	}
	m := eb.Manifest()
	b, err := bizpackOf(cat, m)
	if err != nil {
		return Bizpack{}, err
	}
	for _, p := range m.Points {
		s, _ := cat.Lookup(p.Point)
		h, _ := eb.Handler(p.Point)
		im, err := s.HandlerImpl(m.Name+":"+p.Point, h)
		if err != nil {
			return Bizpack{}, err
		}
		b.Impls = append(b.Impls, im.WithVersion(m.Version).Isolate())
	}
	return b, nil
}

func bizpackOf(cat *Catalogue, m extensions.Manifest) (Bizpack, error) {
	if err := cat.CheckManifest(m); err != nil {
		return Bizpack{}, err
	}
	b := Bizpack{Name: m.Name, Version: m.Version}
	for _, id := range m.Identities {
		code := identity.Code(id)
		if err := code.Validate(); err != nil {
			return Bizpack{}, &extensions.ManifestError{Bizpack: m.Name, Problems: []string{fmt.Sprintf("identity %q: %v", id, err)}}
		}
		b.Identities = append(b.Identities, code)
	}
	if m.PaymentTimeout != "" {
		d, _ := time.ParseDuration(m.PaymentTimeout) // checked above
		b.PaymentTimeout = d
	}
	b.Attributes = m.Attributes
	if l := m.Lifecycle; l != nil {
		p := &lifecycle.Patch{RemoveStates: l.RemoveStates, RemoveEvents: l.RemoveEvents, Retarget: l.Retarget, Name: l.Name}
		for _, s := range l.AddStates {
			p.AddStates = append(p.AddStates, lifecycle.State{Name: s.Name, Terminal: s.Terminal, Doc: s.Doc})
		}
		for _, e := range l.AddEvents {
			p.AddEvents = append(p.AddEvents, lifecycle.Event{Name: e.Name, From: e.From, To: e.To, Effects: e.Effects, Doc: e.Doc})
		}
		b.LifecyclePatch = p
	}
	return b, nil
}

// boundOutside reports whether code may not bind b: b names the identities
// it is built for and code is neither one of them nor a descendant.
func (b Bizpack) boundOutside(code identity.Code) bool {
	if len(b.Identities) == 0 {
		return false
	}
	for _, id := range b.Identities {
		if id == code || id.IsAncestorOf(code) {
			return false
		}
	}
	return true
}
