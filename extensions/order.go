package extensions

// Line is one line of an order as extension points see it.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
	// Category is the SKU's catalogue category.
	Category string `json:"category,omitempty"`
	// WeightGrams is the weight of one unit.
	WeightGrams int64 `json:"weightGrams,omitempty"`
	// Virtual is true for goods that are never shipped (top-ups, tickets).
	Virtual bool `json:"virtual,omitempty"`
	// UnitPrice is the price of one unit in minor units, once priced.
	UnitPrice int64 `json:"unitPrice,omitempty"`
}

// Buyer describes who places an order.
type Buyer struct {
	ID string `json:"id"`
	// Attrs are free-form attributes, e.g. {"tier":"gold","agentLevel":"1"}.
	Attrs map[string]string `json:"attrs,omitempty"`
}

// Address is where an order is shipped and to whom. Region is the code
// freight templates and warehouse coverage are keyed by. The server checks
// every field before a point sees it (lengths, no control characters, Phone
// of digits, "+", spaces and "-", Country an ISO 3166-1 alpha-2 code);
// Name, Phone, Country and Line2 came with protocol 1.1 and are empty from
// older clients.
type Address struct {
	Region string `json:"region"`
	Line1  string `json:"line1,omitempty"`
	City   string `json:"city,omitempty"`
	Postal string `json:"postal,omitempty"`
	// Line2 is the address's second line (building, floor, flat).
	Line2 string `json:"line2,omitempty"`
	// Country is an ISO 3166-1 alpha-2 code ("CN", "DE").
	Country string `json:"country,omitempty"`
	// Name is the recipient's name.
	Name string `json:"name,omitempty"`
	// Phone is the recipient's phone number ("+86 21 5555-0100").
	Phone string `json:"phone,omitempty"`
}

// ValidateRequest is the request of order.validate: the order as submitted,
// before it is priced. Implementations answer with a Verdict.
type ValidateRequest struct {
	BizCode  string   `json:"bizCode"`
	Channel  string   `json:"channel,omitempty"`
	Buyer    Buyer    `json:"buyer"`
	Lines    []Line   `json:"lines"`
	Coupons  []string `json:"coupons,omitempty"`
	Shipping *Address `json:"shipping,omitempty"`
	Payment  string   `json:"paymentMethod,omitempty"`
	// Attributes are the order's attributes, validated against the
	// identity's declarations (see AttributeSchema): string, integer
	// (a JSON number), number or boolean values. Since protocol 1.2.
	Attributes map[string]any `json:"attributes,omitempty"`
}

// GuardRequest is the request of order.guard: one lifecycle transition of one
// order, before its state changes. Implementations answer with a Verdict and
// must not change anything: side effects belong to the transition's effects.
type GuardRequest struct {
	OrderID string `json:"orderId"`
	BizCode string `json:"bizCode"`
	BuyerID string `json:"buyerId"`
	Event   string `json:"event"`
	From    string `json:"from"`
	To      string `json:"to"`
	Total   Money  `json:"total"`
	// Actor is the principal that fired the event ("system" for timeouts).
	Actor string `json:"actor,omitempty"`
	// Data is the event's payload, e.g. {"reviewer":"alice"}.
	Data map[string]string `json:"data,omitempty"`
	// Attributes are the order's attributes (see ValidateRequest). Since
	// protocol 1.2.
	Attributes map[string]any `json:"attributes,omitempty"`
}

// SplitRequest is the request of order.split: the priced lines of an order
// about to be placed, each with the location stock.route_warehouse chose
// for it when the order as a whole could not ship from one place.
type SplitRequest struct {
	BizCode string `json:"bizCode"`
	Channel string `json:"channel,omitempty"`
	Buyer   Buyer  `json:"buyer"`
	Lines   []Line `json:"lines"`
	// Attributes are the order's attributes (see ValidateRequest).
	Attributes map[string]any `json:"attributes,omitempty"`
}

// Split is the response of order.split: one key per line, in the order of
// the request's lines (a seller, a delivery type…). Lines with the same key
// stay in one sub-order (unless they ship from different locations); ""
// is a key like any other. Keys that are all equal do not split the order.
type Split struct {
	Keys []string `json:"keys"`
}
