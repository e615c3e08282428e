package kernel

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Catalogue is the set of points a kernel knows. It is the run-time source of
// the extension-point documentation and of the admin console's catalogue.
type Catalogue struct {
	mu    sync.RWMutex
	specs map[string]*Spec
}

// NewCatalogue returns an empty catalogue.
func NewCatalogue() *Catalogue { return &Catalogue{specs: map[string]*Spec{}} }

// Add adds points. A name added twice is an error, and nothing is added.
func (c *Catalogue) Add(points ...Point) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	for _, p := range points {
		s := p.Spec()
		if _, dup := c.specs[s.Name]; dup || seen[s.Name] {
			return fmt.Errorf("catalogue: point %s declared twice", s.Name)
		}
		seen[s.Name] = true
	}
	for _, p := range points {
		c.specs[p.Spec().Name] = p.Spec()
	}
	return nil
}

// Lookup returns the spec of a point by name.
func (c *Catalogue) Lookup(name string) (*Spec, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.specs[name]
	return s, ok
}

func (c *Catalogue) specsSorted() []*Spec {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Spec, 0, len(c.specs))
	for _, s := range c.specs {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *Spec) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// PointInfo describes one point for documentation and the admin API.
type PointInfo struct {
	Name     string        `json:"name"`
	Domain   string        `json:"domain"`
	Doc      string        `json:"doc"`
	Reducer  string        `json:"reducer"`
	Policy   string        `json:"policy"`
	Deadline time.Duration `json:"deadline"`
	Request  string        `json:"request"`
	Response string        `json:"response"`
}

// Info returns the spec as PointInfo.
func (s *Spec) Info() PointInfo {
	return PointInfo{Name: s.Name, Domain: s.Domain(), Doc: s.Doc, Reducer: s.Reducer.String(),
		Policy: s.Policy.String(), Deadline: s.Deadline, Request: s.Request.String(), Response: s.Response.String()}
}

// Points lists every point, sorted by name.
func (c *Catalogue) Points() []PointInfo {
	specs := c.specsSorted()
	out := make([]PointInfo, len(specs))
	for i, s := range specs {
		out[i] = s.Info()
	}
	return out
}
