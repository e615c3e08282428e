package order

import (
	"encoding/json"
	"time"

	"github.com/tmf-platform/tmf/extensions"
)

// Item is one requested line: a SKU and a quantity. Prices never come from
// the client.
type Item struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// PlaceRequest is an order as a client submits it.
type PlaceRequest struct {
	// BizCode names the business identity; resolved by rules when empty.
	BizCode         string              `json:"bizCode,omitempty"`
	Channel         string              `json:"channel,omitempty"`
	Items           []Item              `json:"items"`
	Coupons         []string            `json:"coupons,omitempty"`
	ShippingAddress *extensions.Address `json:"shippingAddress,omitempty"`
	PaymentMethod   string              `json:"paymentMethod,omitempty"`
	// Attributes are the order's attributes (see extensions.AttributeSchema),
	// validated against its identity's declarations.
	Attributes map[string]json.RawMessage `json:"attributes,omitempty"`
}

// Buyer is who places an order: the authenticated principal.
type Buyer struct {
	ID string
	// Attrs feed identity rules and extension points (e.g. agentLevel).
	Attrs map[string]string
	// OwnerOrg is the id of the buyer's organisation node ("" for none): the
	// order is owned there, and principals of the nodes above it may act on it.
	OwnerOrg string
}

// LineView is one line of an order as the API shows it.
type LineView struct {
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unitPrice"`
	LineTotal int64  `json:"lineTotal"`
	// Discount is the line's share of the order's discount (the lines'
	// shares sum to Amounts.Discount); a return refunds from
	// LineTotal − Discount.
	Discount int64 `json:"discount"`
}

// Amounts are an order's money, in minor units of Currency. Total =
// Subtotal − Discount + Freight, always.
type Amounts struct {
	Subtotal int64  `json:"subtotal"`
	Discount int64  `json:"discount"`
	Freight  int64  `json:"freight"`
	Total    int64  `json:"total"`
	Currency string `json:"currency"`
}

// View is an order as the API shows it.
type View struct {
	ID              string              `json:"id"`
	BizCode         string              `json:"bizCode"`
	BuyerID         string              `json:"buyerId"`
	OwnerOrg        string              `json:"ownerOrg,omitempty"`
	Status          string              `json:"status"`
	Channel         string              `json:"channel,omitempty"`
	Items           []LineView          `json:"items"`
	Amounts         Amounts             `json:"amounts"`
	PaymentMethod   string              `json:"paymentMethod,omitempty"`
	ShippingAddress *extensions.Address `json:"shippingAddress,omitempty"`
	Location        string              `json:"location,omitempty"`
	AvailableEvents []string            `json:"availableEvents"`
	Version         int64               `json:"version"`
	CreatedAt       time.Time           `json:"createdAt"`
	UpdatedAt       time.Time           `json:"updatedAt"`
	PaymentDeadline *time.Time          `json:"paymentDeadline,omitempty"`
	// Attributes are the order's attributes, as placed.
	Attributes map[string]any `json:"attributes,omitempty"`
	// ParentID names the parent of a sub-order.
	ParentID string `json:"parentId,omitempty"`
	// SubOrders are a parent's sub-orders, in the order they were placed.
	SubOrders []SubOrderView `json:"subOrders,omitempty"`
	// subOrders counts a parent's sub-orders, before SubOrders is filled in.
	subOrders int
}

// SubOrderView is one sub-order as its parent shows it.
type SubOrderView struct {
	ID       string     `json:"id"`
	Status   string     `json:"status"`
	Location string     `json:"location,omitempty"`
	Items    []LineView `json:"items"`
	Amounts  Amounts    `json:"amounts"`
}

// JSON is the view's JSON encoding.
func (v View) JSON() string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // a View holds only plain values
	}
	return string(b)
}
