package api

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
)

// PointList answers GET /v1/admin/extension-points: the catalogue.
type PointList struct {
	Items []PointView `json:"items"`
}

// PointView is one extension point: its contract as the kernel enforces it.
type PointView struct {
	Name    string `json:"name"`
	Domain  string `json:"domain"`
	Doc     string `json:"doc"`
	Reducer string `json:"reducer"`
	// Policy is what a failure does: "fail", "fallback" or "skip".
	Policy         string `json:"policy"`
	DeadlineMillis int64  `json:"deadlineMillis"`
	Request        string `json:"request"`
	Response       string `json:"response"`
}

func (s *Server) listPoints(c echo.Context) error {
	out := PointList{Items: []PointView{}}
	if s.kernel != nil {
		for _, p := range s.kernel.Catalogue().Points() {
			out.Items = append(out.Items, PointView{Name: p.Name, Domain: p.Domain, Doc: p.Doc, Reducer: p.Reducer, Policy: p.Policy,
				DeadlineMillis: p.Deadline.Milliseconds(), Request: p.Request, Response: p.Response})
		}
	}
	return c.JSON(http.StatusOK, out)
}

// ProductList answers GET /v1/admin/products: the products identities may
// enable.
type ProductList struct {
	Items []ProductView `json:"items"`
}

// ProductView is one product: a capability bundle of bindings.
type ProductView struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Doc      string `json:"doc"`
	Priority int    `json:"priority"`
	// PaymentTimeout the product sets, unless the identity sets one.
	PaymentTimeout string `json:"paymentTimeout"`
	// Points the product binds, sorted.
	Points []string `json:"points"`
	// Lifecycle reports whether the product shapes the lifecycle.
	Lifecycle bool `json:"lifecycle"`
}

func (s *Server) listProducts(c echo.Context) error {
	out := ProductList{Items: []ProductView{}}
	if s.kernel != nil {
		for _, p := range s.kernel.Registry().Products() {
			v := ProductView{Name: p.Name, Version: p.Version, Doc: p.Doc, Priority: p.Priority,
				PaymentTimeout: durationText(p.PaymentTimeout), Points: []string{}, Lifecycle: p.Lifecycle != nil || p.LifecyclePatch != nil}
			seen := map[string]bool{}
			for _, b := range p.Bindings {
				if !seen[b.Point] {
					seen[b.Point] = true
					v.Points = append(v.Points, b.Point)
				}
			}
			slices.Sort(v.Points)
			out.Items = append(out.Items, v)
		}
	}
	return c.JSON(http.StatusOK, out)
}
