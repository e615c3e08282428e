package api

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store"
)

// Limits of the stock settings.
const (
	maxRegions     = 100
	maxRegion      = 64
	maxPriority    = 1_000_000
	maxStockBucket = stock.MaxBuckets
)

// Modes lists the channel setting modes, as PUT /v1/stock/{sku}/channels
// takes them.
var Modes = []string{stock.ModeShared, stock.ModeMutex, stock.ModeExclusive}

// nameParam reads and checks a path parameter that names a stock key
// (channel, location): 1 to 64 of A-Z a-z 0-9 . _ -.
func nameParam(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if !skuPattern.MatchString(v) {
		return "", invalidField(name, "a %s is 1 to 64 of A-Z a-z 0-9 . _ -; got %q", name, v)
	}
	return v, nil
}

// location checks a location of a body or query, "" meaning DefaultLocation.
func location(loc string) (string, error) {
	if loc == "" {
		return DefaultLocation, nil
	}
	if !skuPattern.MatchString(loc) {
		return "", invalidField("location", "a location is 1 to 64 of A-Z a-z 0-9 . _ -")
	}
	return loc, nil
}

// ChannelRequest is the body of PUT /v1/stock/{sku}/channels/{channel}.
type ChannelRequest struct {
	// Location defaults to "default".
	Location string `json:"location,omitempty"`
	// Mode is shared, mutex or exclusive.
	Mode *string `json:"mode"`
	// Quantity: for shared the cap on what the channel may hold from the
	// common pool (0 blocks it); for mutex what its slot holds sellable
	// from now on. Required for both; exclusive takes none.
	Quantity *int64 `json:"quantity,omitempty"`
}

func (r ChannelRequest) check() error {
	switch {
	case r.Mode == nil || !slices.Contains(Modes, *r.Mode):
		return invalidField("mode", "mode is one of %s", strings.Join(Modes, ", "))
	case *r.Mode == stock.ModeExclusive && r.Quantity != nil:
		return invalidField("quantity", "an exclusive channel takes all the SKU's sellable stock at the location: send no quantity")
	case *r.Mode != stock.ModeExclusive && r.Quantity == nil:
		return invalidField("quantity", "quantity is required for a %s setting", *r.Mode)
	case r.Quantity != nil && *r.Quantity < 0:
		return invalidField("quantity", "quantity %d is negative", *r.Quantity)
	}
	return nil
}

// putChannel creates or changes a channel setting of a SKU at a location
// (reference 004 §2.1.4) and answers the SKU's stock.
func (s *Server) putChannel(c echo.Context) error {
	sku, err := skuParam(c)
	if err != nil {
		return err
	}
	channel, err := nameParam(c, "channel")
	if err != nil {
		return err
	}
	var req ChannelRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	loc, err := location(req.Location)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.knownSKU(ctx, sku); err != nil {
		return err
	}
	cfg := stock.ChannelConfig{SKU: sku, Location: loc, Channel: channel, Mode: *req.Mode}
	if req.Quantity != nil {
		cfg.Quantity = *req.Quantity
	}
	if err := s.stockWrite(c, "set-channel", sku, loc, channel, func(tx *gorm.DB) error {
		return stock.SetChannel(ctx, tx, cfg)
	}); err != nil {
		return err
	}
	return s.answerStock(c, sku)
}

// deleteChannel removes a channel setting; set-aside stock goes back to
// the common pool. Removing what does not exist changes nothing.
func (s *Server) deleteChannel(c echo.Context) error {
	sku, err := skuParam(c)
	if err != nil {
		return err
	}
	channel, err := nameParam(c, "channel")
	if err != nil {
		return err
	}
	qp := c.QueryParams()
	loc, err := location(qp.Get("location"))
	if err != nil {
		return err
	}
	mode := qp.Get("mode")
	if !slices.Contains(Modes, mode) {
		return invalidField("mode", "the query parameter mode is one of %s", strings.Join(Modes, ", "))
	}
	ctx := c.Request().Context()
	if err := s.knownSKU(ctx, sku); err != nil {
		return err
	}
	if err := s.stockWrite(c, "remove-channel", sku, loc, channel, func(tx *gorm.DB) error {
		return stock.RemoveChannel(ctx, tx, sku, loc, channel, mode)
	}); err != nil {
		return err
	}
	return s.answerStock(c, sku)
}

// BucketsRequest is the body of PUT /v1/stock/{sku}/buckets.
type BucketsRequest struct {
	// Location defaults to "default".
	Location string `json:"location,omitempty"`
	// Buckets: 2 to 256 splits the common pool into that many hot-SKU
	// buckets; 0 or 1 merges them back.
	Buckets *int `json:"buckets"`
}

// putBuckets splits a hot SKU's common pool into buckets, or merges them.
func (s *Server) putBuckets(c echo.Context) error {
	sku, err := skuParam(c)
	if err != nil {
		return err
	}
	var req BucketsRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	if req.Buckets == nil || *req.Buckets < 0 || *req.Buckets > maxStockBucket {
		return invalidField("buckets", "buckets is 2 to %d to split the stock, 0 or 1 to merge it back", maxStockBucket)
	}
	loc, err := location(req.Location)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.knownSKU(ctx, sku); err != nil {
		return err
	}
	n := *req.Buckets
	verb := "split-buckets"
	if n <= 1 {
		verb = "merge-buckets"
	}
	if err := s.stockWrite(c, verb, sku, loc, "", func(tx *gorm.DB) error {
		if n <= 1 {
			return stock.MergeBuckets(ctx, tx, sku, loc)
		}
		return stock.SplitBuckets(ctx, tx, sku, loc, n)
	}); err != nil {
		return err
	}
	return s.answerStock(c, sku)
}

// LocationRequest is the body of PUT /v1/locations/{name}.
type LocationRequest struct {
	// Regions the location ships to; none means everywhere.
	Regions []string `json:"regions,omitempty"`
	// Priority: higher is preferred by routing. Default 0.
	Priority int `json:"priority,omitempty"`
}

// LocationView is a stock location as the API shows it.
type LocationView struct {
	Name     string   `json:"name"`
	Regions  []string `json:"regions"`
	Priority int      `json:"priority"`
}

// LocationList answers GET /v1/locations.
type LocationList struct {
	Locations []LocationView `json:"locations"`
}

func locationView(l stock.Location) LocationView {
	v := LocationView{Name: l.Name, Regions: []string{}, Priority: l.Priority}
	for r := range strings.SplitSeq(l.Regions, ",") {
		if r = strings.TrimSpace(r); r != "" {
			v.Regions = append(v.Regions, r)
		}
	}
	return v
}

func (r LocationRequest) check() error {
	if len(r.Regions) > maxRegions {
		return invalidField("regions", "at most %d regions", maxRegions)
	}
	for i, reg := range r.Regions {
		if strings.TrimSpace(reg) == "" || len(reg) > maxRegion || strings.ContainsAny(reg, ",") {
			return invalidField(fmt.Sprintf("regions[%d]", i), "a region is 1 to %d bytes without commas", maxRegion)
		}
		if slices.Contains(r.Regions[:i], reg) {
			return invalidField(fmt.Sprintf("regions[%d]", i), "region %q is listed twice", reg)
		}
	}
	if r.Priority < -maxPriority || r.Priority > maxPriority {
		return invalidField("priority", "priority is -%d to %d", maxPriority, maxPriority)
	}
	return nil
}

// putLocation creates or replaces a stock location.
func (s *Server) putLocation(c echo.Context) error {
	name, err := nameParam(c, "name")
	if err != nil {
		return err
	}
	var req LocationRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	loc := stock.Location{Name: name, Regions: strings.Join(req.Regions, ","), Priority: req.Priority}
	if err := s.stock.Tx(ctx, func(tx *gorm.DB) error {
		locs, err := stock.Locations(ctx, tx)
		if err != nil {
			return err
		}
		var before any
		if i := slices.IndexFunc(locs, func(l stock.Location) bool { return l.Name == name }); i >= 0 {
			before = locationView(locs[i])
		}
		if err := stock.PutLocation(ctx, tx, loc); err != nil {
			return err
		}
		return s.auditIn(ctx, tx, c, ActionStockWrite, createdOr(before), auditLocation, name, before, locationView(loc))
	}); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, locationView(loc))
}

func (s *Server) listLocations(c echo.Context) error {
	ctx := c.Request().Context()
	locs, err := stock.Locations(ctx, s.stock.DB(ctx))
	if err != nil {
		return err
	}
	out := LocationList{Locations: make([]LocationView, 0, len(locs))}
	for _, l := range locs {
		out.Locations = append(out.Locations, locationView(l))
	}
	return c.JSON(http.StatusOK, out)
}

// AuditView answers GET /v1/admin/stock/audit.
type AuditView struct {
	// Clean is true when every counter agrees with the ledger.
	Clean         bool                `json:"clean"`
	Discrepancies []stock.Discrepancy `json:"discrepancies"`
}

// auditStock recomputes every stock counter from the ledger (the oversell
// audit of reference 004 §3.1.1). It reads in one read-only transaction,
// a snapshot on PostgreSQL (REPEATABLE READ) and MySQL, so that orders
// committing meanwhile do not show as differences; it sums the whole
// ledger, so it is an operator's tool, not something to poll.
func (s *Server) auditStock(c echo.Context) error {
	ctx := c.Request().Context()
	var found []stock.Discrepancy
	err := readSnapshot(ctx, s.stock, func(tx *gorm.DB) error {
		var err error
		found, err = stock.Audit(ctx, tx)
		return err
	})
	if err != nil {
		return err
	}
	if found == nil {
		found = []stock.Discrepancy{}
	}
	return c.JSON(http.StatusOK, AuditView{Clean: len(found) == 0, Discrepancies: found})
}

// readSnapshot runs fn in a read-only transaction that sees one snapshot
// of the database.
func readSnapshot(ctx context.Context, st *store.Store, fn func(tx *gorm.DB) error) error {
	var opts *sql.TxOptions
	switch st.Dialect() {
	case store.Postgres, store.MySQL:
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	if opts == nil {
		return st.DB(ctx).Transaction(fn)
	}
	return st.DB(ctx).Transaction(fn, opts)
}
