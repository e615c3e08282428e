package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/store"
)

var (
	skuPattern       = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	currencyPattern  = regexp.MustCompile(`^[A-Z]{3}$`)
	principalPattern = regexp.MustCompile(`^[A-Za-z0-9._@:-]{1,128}$`)
	// bizCodePattern is a business identity code an operator may be granted.
	bizCodePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
)

// Field limits of the admin bodies, within the store's column sizes.
const (
	maxTitle      = 200
	maxCategory   = 64
	maxReason     = 255
	maxIdentities = 64
	maxAttrs      = 32
	maxAttrKey    = 64
	maxAttrValue  = 1024
)

// Audit target types of the admin writes (store.AuditEntry.TargetType); the
// target id is the key in the write's URL.
const (
	auditSKU       = "sku"
	auditStock     = "stock"
	auditLocation  = "location"
	auditPrincipal = "principal"
	auditOrg       = "org"
	auditPolicy    = "policy"
	auditPromotion = "promotion"
	// auditCoupons is a batch of coupons issued for a promotion (id).
	auditCoupons = "coupon-batch"
	auditCredit  = "credit"
	// auditGroups is the stacking order of the promotion groups, one for the
	// whole platform: its target id is empty.
	auditGroups = "promotion-groups"
	// auditReturn is an operator's step of a return; its target id is
	// "{orderId}/{returnId}".
	auditReturn = "return"
)

// auditIn records the audit entry of a change inside the transaction tx that
// makes it, so that the change and its entry commit together or not at all.
func (s *Server) auditIn(ctx context.Context, tx *gorm.DB, c echo.Context, action, verb, targetType, targetID string,
	before, after any) error {
	return s.store.AuditStep(s.auditEntry(c, action, verb, targetType, targetID, before, after))(ctx, tx)
}

// createdOr is the audit verb of a put: "create" when nothing was there
// before, else "update".
func createdOr(before any) string {
	if before == nil {
		return "create"
	}
	return "update"
}

func invalidField(field, format string, args ...any) *Problem {
	return problem(CodeInvalidRequest, map[string]any{"field": field}, format, args...)
}

// skuParam reads and checks the {sku} of the URL.
func skuParam(c echo.Context) (string, error) {
	sku := c.Param("sku")
	if !skuPattern.MatchString(sku) {
		return "", invalidField("sku", "a SKU is 1 to 64 of A-Z a-z 0-9 . _ -; got %q", sku)
	}
	return sku, nil
}

func skuNotFound(sku string) *Problem {
	return &Problem{Code: order.CodeSKUNotFound, Status: http.StatusNotFound, Detail: fmt.Sprintf("SKU %s not found", sku),
		Fields: map[string]any{"sku": sku}}
}

// SKURequest is the body of PUT /v1/skus/{sku}.
type SKURequest struct {
	Title *string `json:"title"`
	// Price in minor units of Currency.
	Price       *int64  `json:"price"`
	Currency    *string `json:"currency"`
	Category    string  `json:"category,omitempty"`
	WeightGrams int64   `json:"weightGrams,omitempty"`
	Virtual     bool    `json:"virtual,omitempty"`
}

// SKUView is a catalogue entry as the API shows it.
type SKUView struct {
	SKU         string    `json:"sku"`
	Title       string    `json:"title"`
	Price       int64     `json:"price"`
	Currency    string    `json:"currency"`
	Category    string    `json:"category"`
	WeightGrams int64     `json:"weightGrams"`
	Virtual     bool      `json:"virtual"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

func skuView(s store.SKU) SKUView {
	return SKUView{SKU: s.SKU, Title: s.Title, Price: s.Price, Currency: s.Currency, Category: s.Category,
		WeightGrams: s.WeightGrams, Virtual: s.Virtual, UpdatedAt: s.UpdatedAt.UTC()}
}

func (r SKURequest) check() error {
	switch {
	case r.Title == nil || strings.TrimSpace(*r.Title) == "":
		return invalidField("title", "title is required")
	case utf8.RuneCountInString(*r.Title) > maxTitle:
		return invalidField("title", "title is longer than %d characters", maxTitle)
	case r.Price == nil:
		return invalidField("price", "price is required, in minor units (cents)")
	case *r.Price < 0:
		return invalidField("price", "price %d is negative", *r.Price)
	case r.Currency == nil || !currencyPattern.MatchString(*r.Currency):
		return invalidField("currency", "currency must be 3 uppercase letters (ISO 4217)")
	case len(r.Category) > maxCategory:
		return invalidField("category", "category is longer than %d bytes", maxCategory)
	case r.WeightGrams < 0:
		return invalidField("weightGrams", "weightGrams %d is negative", r.WeightGrams)
	}
	return nil
}

// putSKU creates or replaces a catalogue entry.
func (s *Server) putSKU(c echo.Context) error {
	sku, err := skuParam(c)
	if err != nil {
		return err
	}
	var req SKURequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	// The store writes a SKU in a transaction of its own: the entry is
	// recorded after it, the before read just ahead of it.
	var before any
	if cur, err := s.store.GetSKU(ctx, sku); err == nil {
		before = skuView(cur)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := s.store.PutSKU(ctx, store.SKU{SKU: sku, Title: *req.Title, Price: *req.Price, Currency: *req.Currency,
		Category: req.Category, WeightGrams: req.WeightGrams, Virtual: req.Virtual}); err != nil {
		return err
	}
	saved, err := s.store.GetSKU(ctx, sku)
	if err != nil {
		return err
	}
	s.audit(c, ActionSKUsWrite, createdOr(before), auditSKU, sku, before, skuView(saved))
	return c.JSON(http.StatusOK, skuView(saved))
}

func (s *Server) getSKU(c echo.Context) error {
	sku, err := skuParam(c)
	if err != nil {
		return err
	}
	got, err := s.store.GetSKU(c.Request().Context(), sku)
	if errors.Is(err, store.ErrNotFound) {
		return skuNotFound(sku)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, skuView(got))
}

// StockRequest is the body of PUT /v1/stock/{sku}: the total sellable
// quantity of the SKU at a location (an increase goes to the channel that
// has the SKU exclusively, or is spread over its buckets, or goes to the
// common pool; see domains/stock).
type StockRequest struct {
	// Location defaults to "default".
	Location string `json:"location,omitempty"`
	Sellable *int64 `json:"sellable"`
	Reason   string `json:"reason,omitempty"`
}

// DefaultLocation is the stock location of a PUT /v1/stock without one.
const DefaultLocation = "default"

// maxSetSellableAttempts bounds how often PUT /v1/stock tries a decrease
// that concurrent reservations keep making impossible.
const maxSetSellableAttempts = 3

// StockView is the stock of a SKU: totals over its locations, and each
// location with its slots (common pool, channel set-asides, buckets) and
// channel settings.
type StockView struct {
	SKU       string        `json:"sku"`
	Sellable  int64         `json:"sellable"`
	Reserved  int64         `json:"reserved"`
	Frozen    int64         `json:"frozen"`
	Shipped   int64         `json:"shipped"`
	Locations []stock.Level `json:"locations"`
}

// auditedStock is what the audit log keeps of a SKU's stock at one
// location: its totals and settings, not each slot (a split SKU has up to
// 256 buckets). Channel names the channel a channel write changed.
type auditedStock struct {
	Location string                 `json:"location"`
	Channel  string                 `json:"channel,omitempty"`
	Sellable int64                  `json:"sellable"`
	Reserved int64                  `json:"reserved"`
	Frozen   int64                  `json:"frozen"`
	Shipped  int64                  `json:"shipped"`
	Buckets  int                    `json:"buckets"`
	Channels []stock.ChannelSetting `json:"channels,omitempty"`
}

// stockAt reads, on db (the write's transaction), the stock of sku at loc
// for the audit log: nil when the SKU has no stock there.
func stockAt(ctx context.Context, db *gorm.DB, sku, loc, channel string) (any, error) {
	levels, err := stock.Levels(ctx, db, sku)
	if err != nil {
		return nil, err
	}
	for _, l := range levels {
		if l.Location == loc {
			return auditedStock{Location: l.Location, Channel: channel, Sellable: l.Sellable, Reserved: l.Reserved,
				Frozen: l.Frozen, Shipped: l.Shipped, Buckets: l.Buckets, Channels: l.Channels}, nil
		}
	}
	return nil, nil
}

// stockWrite runs write in a transaction that also records its audit entry
// (target "stock" sku) with the SKU's stock at loc before and after.
func (s *Server) stockWrite(c echo.Context, verb, sku, loc, channel string, write func(tx *gorm.DB) error) error {
	ctx := c.Request().Context()
	return s.stock.Tx(ctx, func(tx *gorm.DB) error {
		before, err := stockAt(ctx, tx, sku, loc, channel)
		if err != nil {
			return err
		}
		if err := write(tx); err != nil {
			return err
		}
		after, err := stockAt(ctx, tx, sku, loc, channel)
		if err != nil {
			return err
		}
		return s.auditIn(ctx, tx, c, ActionStockWrite, verb, auditStock, sku, before, after)
	})
}

func (s *Server) putStock(c echo.Context) error {
	sku, err := skuParam(c)
	if err != nil {
		return err
	}
	var req StockRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	if req.Location == "" {
		req.Location = DefaultLocation
	}
	switch {
	case !skuPattern.MatchString(req.Location):
		return invalidField("location", "a location is 1 to 64 of A-Z a-z 0-9 . _ -")
	case req.Sellable == nil:
		return invalidField("sellable", "sellable is required")
	case *req.Sellable < 0:
		return invalidField("sellable", "sellable %d is negative", *req.Sellable)
	case len(req.Reason) > maxReason:
		return invalidField("reason", "reason is longer than %d bytes", maxReason)
	}
	ctx := c.Request().Context()
	if err := s.knownSKU(ctx, sku); err != nil {
		return err
	}
	reason := req.Reason
	if reason == "" {
		reason = "set by " + principalOf(c).ID
	}
	// A decrease that reservations committing meanwhile made impossible is
	// refused by the domain (nothing is overwritten): read again and retry.
	for range maxSetSellableAttempts {
		err = s.stockWrite(c, "update", sku, req.Location, "", func(tx *gorm.DB) error {
			_, err := stock.SetSellable(ctx, tx, sku, req.Location, *req.Sellable, reason)
			return err
		})
		if short := (*stock.OutOfStockError)(nil); !errors.As(err, &short) {
			break
		}
	}
	if err != nil {
		return err
	}
	return s.answerStock(c, sku)
}

// knownSKU refuses a SKU that is not in the catalogue.
func (s *Server) knownSKU(ctx context.Context, sku string) error {
	if _, err := s.store.GetSKU(ctx, sku); errors.Is(err, store.ErrNotFound) {
		return skuNotFound(sku)
	} else if err != nil {
		return err
	}
	return nil
}

func (s *Server) getStock(c echo.Context) error {
	sku, err := skuParam(c)
	if err != nil {
		return err
	}
	return s.answerStock(c, sku)
}

// StockAvailability is what GET /v1/stock/{sku} shows a caller who is not
// staff: whether and how much it can buy, not each warehouse's reserved,
// frozen and shipped counts.
type StockAvailability struct {
	SKU       string `json:"sku"`
	Available bool   `json:"available"`
	Sellable  int64  `json:"sellable"`
}

// isStaff reports whether p runs the platform (operator or admin): staff
// see stock per warehouse, who did what in an order's history, and the
// implementations and errors of an order's trace.
func isStaff(p *principal) bool {
	return p != nil && (slices.Contains(p.Roles, RoleAdmin) || slices.Contains(p.Roles, RoleOperator))
}

func (s *Server) answerStock(c echo.Context, sku string) error {
	ctx := c.Request().Context()
	levels, err := stock.Levels(ctx, s.stock.DB(ctx), sku)
	if err != nil {
		return err
	}
	if len(levels) == 0 {
		if err := s.knownSKU(ctx, sku); err != nil {
			return err
		}
	}
	v := StockView{SKU: sku, Locations: make([]stock.Level, 0, len(levels))}
	for _, l := range levels {
		v.Sellable += l.Sellable
		v.Reserved += l.Reserved
		v.Frozen += l.Frozen
		v.Shipped += l.Shipped
		v.Locations = append(v.Locations, l)
	}
	if !isStaff(principalOf(c)) {
		return c.JSON(http.StatusOK, StockAvailability{SKU: sku, Available: v.Sellable > 0, Sellable: v.Sellable})
	}
	return c.JSON(http.StatusOK, v)
}

// PrincipalRequest is the body of POST /v1/admin/principals.
type PrincipalRequest struct {
	ID    string   `json:"id"`
	Roles []string `json:"roles"`
	// Org is the id of the principal's organisation node: an agent acts on
	// the orders owned anywhere under it, and the principal's own orders
	// are owned by it.
	Org string `json:"org,omitempty"`
	// Identities are the business identities an operator is granted; "*"
	// grants all.
	Identities []string `json:"identities,omitempty"`
	// Attrs feed identity rules and extension points (e.g. agentLevel).
	Attrs map[string]string `json:"attrs,omitempty"`
}

// PrincipalCreated answers POST /v1/admin/principals. The token is shown
// this once; the store keeps only its hash.
type PrincipalCreated struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

func (s *Server) createPrincipal(c echo.Context) error {
	var req PrincipalRequest
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	if !principalPattern.MatchString(req.ID) {
		return invalidField("id", "a principal id is 1 to 128 of A-Z a-z 0-9 . _ @ : -")
	}
	ctx := c.Request().Context()
	attrs, _, err := s.checkPrincipalFields(ctx, req.Roles, req.Org, req.Identities, req.Attrs)
	if err != nil {
		return err
	}
	token, err := NewToken()
	if err != nil {
		return err
	}
	err = s.store.CreatePrincipal(ctx, store.Principal{ID: req.ID, Roles: strings.Join(req.Roles, ","),
		Org: req.Org, Identities: strings.Join(req.Identities, ","), TokenHash: TokenHash(token), Attrs: attrs})
	if errors.Is(err, store.ErrDuplicate) {
		return problem(CodePrincipalExists, map[string]any{"id": req.ID}, "principal %s exists", req.ID)
	}
	if err != nil {
		return err
	}
	// The entry holds the principal as GET shows it: never its token or
	// the token's hash. Read back when possible (creation time, org path).
	after := PrincipalView{ID: req.ID, Roles: req.Roles, Org: req.Org, Identities: req.Identities, Attrs: req.Attrs}
	if sp, err := s.store.GetPrincipal(ctx, req.ID); err == nil {
		after = s.principalView(ctx, sp)
	}
	s.audit(c, ActionPrincipalsWrite, "create", auditPrincipal, req.ID, nil, after)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, PrincipalCreated{ID: req.ID, Token: token})
}

// checkPrincipalFields checks what a principal is given (at least one
// known role, once each; an existing org node; identity codes or "*";
// bounded attributes) and returns the attributes as stored (JSON, "" for
// none) and the org node's path ("" for none).
func (s *Server) checkPrincipalFields(ctx context.Context, roles []string, org string, identities []string, attrMap map[string]string) (attrs, orgPath string, err error) {
	if len(roles) == 0 {
		return "", "", invalidField("roles", "a principal needs at least one role of %s", strings.Join(Roles, ", "))
	}
	for i, r := range roles {
		if !slices.Contains(Roles, r) {
			return "", "", invalidField(fmt.Sprintf("roles[%d]", i), "unknown role %q; roles are %s", r, strings.Join(Roles, ", "))
		}
		if slices.Contains(roles[:i], r) {
			return "", "", invalidField(fmt.Sprintf("roles[%d]", i), "role %q is given twice", r)
		}
	}
	if org != "" && !orgPattern.MatchString(org) {
		return "", "", invalidField("org", "org is the id of an organisation node (1 to 64 of a-z 0-9 -); got %q", org)
	}
	if len(identities) > maxIdentities {
		return "", "", invalidField("identities", "at most %d identities", maxIdentities)
	}
	for i, id := range identities {
		if id != "*" && !bizCodePattern.MatchString(id) {
			return "", "", invalidField(fmt.Sprintf("identities[%d]", i), "an identity is a business code (1 to 128 of A-Z a-z 0-9 . _ -) or \"*\"; got %q", id)
		}
	}
	if len(attrMap) > maxAttrs {
		return "", "", invalidField("attrs", "at most %d attributes", maxAttrs)
	}
	for _, k := range slices.Sorted(maps.Keys(attrMap)) {
		if k == "" || len(k) > maxAttrKey || len(attrMap[k]) > maxAttrValue {
			return "", "", invalidField("attrs."+k, "attribute names are 1 to %d bytes, values at most %d", maxAttrKey, maxAttrValue)
		}
	}
	if len(attrMap) > 0 {
		b, err := json.Marshal(attrMap)
		if err != nil {
			return "", "", err
		}
		attrs = string(b)
	}
	if org != "" {
		node, err := s.store.GetOrg(ctx, org)
		if errors.Is(err, store.ErrNotFound) {
			return "", "", invalidField("org", "org %s is not an organisation node; create it with POST /v1/admin/orgs", org)
		} else if err != nil {
			return "", "", err
		}
		orgPath = node.Path
	}
	return attrs, orgPath, nil
}

// PrincipalUpdate is the body of PUT /v1/admin/principals/{id}: the
// principal's roles, organisation node, granted identities and attributes,
// all replaced (absent is empty). Its token stays as it is.
type PrincipalUpdate struct {
	// Disabled principals do not authenticate (their tokens and JWTs
	// naming them are refused) until enabled again.
	Disabled   bool              `json:"disabled,omitempty"`
	Roles      []string          `json:"roles"`
	Org        string            `json:"org,omitempty"`
	Identities []string          `json:"identities,omitempty"`
	Attrs      map[string]string `json:"attrs,omitempty"`
}

// updatePrincipal changes what a principal is and may do, with its audit
// entry in the same transaction. The principal's next request is decided
// on the new values (a request already running keeps the old ones).
func (s *Server) updatePrincipal(c echo.Context) error {
	id := c.Param("id")
	notFound := problem(CodePrincipalNotFound, map[string]any{"id": id}, "principal %s not found", id)
	if !principalPattern.MatchString(id) {
		return notFound
	}
	var req PrincipalUpdate
	if err := s.decode(c, &req, decodeOptions{}); err != nil {
		return err
	}
	ctx := c.Request().Context()
	attrs, orgPath, err := s.checkPrincipalFields(ctx, req.Roles, req.Org, req.Identities, req.Attrs)
	if err != nil {
		return err
	}
	old, err := s.store.GetPrincipal(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	before := s.principalView(ctx, old)
	next := old
	next.Roles, next.Org, next.OrgPath = strings.Join(req.Roles, ","), req.Org, orgPath
	next.Identities, next.Attrs, next.Disabled = strings.Join(req.Identities, ","), attrs, req.Disabled
	after := s.principalView(ctx, next)
	err = s.store.UpdatePrincipal(ctx, next, s.store.AuditStep(s.auditEntry(c, ActionPrincipalsWrite, "update", auditPrincipal, id, before, after)))
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if errors.Is(err, store.ErrLastAdmin) {
		return lastAdmin(id)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, after)
}

// PrincipalView is a principal as GET /v1/admin/principals/{id} shows it
// (never its token).
type PrincipalView struct {
	ID         string            `json:"id"`
	Roles      []string          `json:"roles"`
	Org        string            `json:"org,omitempty"`
	OrgPath    string            `json:"orgPath,omitempty"`
	Identities []string          `json:"identities,omitempty"`
	Attrs      map[string]string `json:"attrs,omitempty"`
	Disabled   bool              `json:"disabled,omitempty"`
	// TokenExpiresAt is when the principal's token stops working; absent:
	// never.
	TokenExpiresAt *time.Time `json:"tokenExpiresAt,omitempty"`
	CreatedAt      time.Time  `json:"createdAt"`
}

func lastAdmin(id string) error {
	return problem(CodeLastAdmin, map[string]any{"id": id},
		"%s is the last enabled admin: make another admin first", id)
}

// TokenRequest is the body of POST /v1/admin/principals/{id}/token
// (optional): how long the new token is valid, e.g. "720h"; empty: no
// expiry.
type TokenRequest struct {
	ExpiresIn string `json:"expiresIn,omitempty"`
}

// TokenIssued answers a token rotation: the new token, shown this once.
type TokenIssued struct {
	ID             string     `json:"id"`
	Token          string     `json:"token"`
	TokenExpiresAt *time.Time `json:"tokenExpiresAt,omitempty"`
}

// rotateToken gives a principal a new token; the old one stops working at
// once. The audit entry records the rotation and the expiry, never a token.
func (s *Server) rotateToken(c echo.Context) error {
	id := c.Param("id")
	notFound := problem(CodePrincipalNotFound, map[string]any{"id": id}, "principal %s not found", id)
	if !principalPattern.MatchString(id) {
		return notFound
	}
	var req TokenRequest
	if c.Request().ContentLength != 0 {
		if err := s.decode(c, &req, decodeOptions{}); err != nil {
			return err
		}
	}
	var expires *time.Time
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return invalidField("expiresIn", "expiresIn is a positive duration such as 720h, or absent for a token without expiry")
		}
		at := time.Now().Add(d).UTC().Truncate(time.Millisecond)
		expires = &at
	}
	token, err := NewToken()
	if err != nil {
		return err
	}
	entry := s.auditEntry(c, ActionPrincipalsWrite, "rotate_token", auditPrincipal, id, nil, map[string]any{"tokenExpiresAt": expires})
	err = s.store.RotatePrincipalToken(c.Request().Context(), id, TokenHash(token), expires, s.store.AuditStep(entry))
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, TokenIssued{ID: id, Token: token, TokenExpiresAt: expires})
}

// deletePrincipal removes a principal: its token stops working at once;
// its orders stay.
func (s *Server) deletePrincipal(c echo.Context) error {
	id := c.Param("id")
	notFound := problem(CodePrincipalNotFound, map[string]any{"id": id}, "principal %s not found", id)
	if !principalPattern.MatchString(id) {
		return notFound
	}
	ctx := c.Request().Context()
	old, err := s.store.GetPrincipal(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	entry := s.auditEntry(c, ActionPrincipalsWrite, "delete", auditPrincipal, id, s.principalView(ctx, old), nil)
	err = s.store.DeletePrincipal(ctx, id, s.store.AuditStep(entry))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound
	case errors.Is(err, store.ErrLastAdmin):
		return lastAdmin(id)
	case err != nil:
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) getPrincipal(c echo.Context) error {
	id := c.Param("id")
	if !principalPattern.MatchString(id) {
		return problem(CodePrincipalNotFound, map[string]any{"id": id}, "principal %s not found", id)
	}
	ctx := c.Request().Context()
	sp, err := s.store.GetPrincipal(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return problem(CodePrincipalNotFound, map[string]any{"id": id}, "principal %s not found", id)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.principalView(ctx, sp))
}

// principalView is a stored principal as the API shows it, with the path
// of its organisation node that the store's reads bring along.
func (s *Server) principalView(ctx context.Context, sp store.Principal) PrincipalView {
	p := s.storedPrincipal(ctx, sp)
	return PrincipalView{ID: p.ID, Roles: nonNil(p.Roles), Org: p.Org, OrgPath: sp.OrgPath, Identities: p.Identities,
		Attrs: p.Attrs, Disabled: sp.Disabled, TokenExpiresAt: sp.TokenExpiresAt, CreatedAt: sp.CreatedAt.UTC()}
}

// decode reads and strictly decodes a JSON body into v.
func (s *Server) decode(c echo.Context, v any, opt decodeOptions) error {
	raw, err := readBody(c, s.limits.MaxBodyBytes)
	if err != nil {
		return err
	}
	return decodeStrict(raw, v, opt)
}

// PrincipalList answers GET /v1/admin/principals: principals by id.
type PrincipalList struct {
	Items      []PrincipalView `json:"items"`
	NextCursor string          `json:"nextCursor,omitempty"`
}

// listPrincipals pages through principals by id, optionally those of an
// organisation subtree (?org=).
func (s *Server) listPrincipals(c echo.Context) error {
	qp := c.QueryParams()
	limit, err := s.pageLimit(qp)
	if err != nil {
		return err
	}
	// One more than the page, to know whether another page follows.
	q := store.PrincipalQuery{Org: qp.Get("org"), After: qp.Get("cursor"), Limit: limit + 1}
	if qp.Has("cursor") && !principalPattern.MatchString(q.After) {
		return problem(CodeInvalidCursor, nil, "the cursor is not one this server gave out; start again without it")
	}
	ctx := c.Request().Context()
	list, err := s.store.ListPrincipals(ctx, q)
	if errors.Is(err, store.ErrNotFound) {
		return orgNotFound(q.Org)
	}
	if err != nil {
		return err
	}
	more := len(list) > limit
	list = list[:min(len(list), limit)]
	out := PrincipalList{Items: make([]PrincipalView, 0, len(list))}
	for _, sp := range list {
		out.Items = append(out.Items, s.principalView(ctx, sp))
	}
	if more {
		out.NextCursor = list[len(list)-1].ID
	}
	return c.JSON(http.StatusOK, out)
}
