package store

import (
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/domains/promotion"
	"github.com/tmf-platform/tmf/domains/stock"
	"github.com/tmf-platform/tmf/platform/store/changes"
)

// Key sizes. MySQL needs an explicit size on every indexed string column, and
// SQLite does not enforce sizes at all, so the store checks them in Go to make
// the three databases agree.
const (
	maxOrderID = 40
	maxSKU     = 64
	maxIdemKey = 255
	maxPrincpl = 128
)

// JSON and bodies are declared with size:16777215, which gorm maps to TEXT on
// SQLite and PostgreSQL and to MEDIUMTEXT (16 MiB) on MySQL, whose plain TEXT
// stops at 64 KiB.

// StatusPendingPayment is the order status DueForPaymentTimeout looks for.
const StatusPendingPayment = "pending_payment"

// States of an idempotency record.
const (
	IdempotencyRunning = "running"
	IdempotencyDone    = "done"
)

// SKU is a catalogue entry. Price is in minor units of Currency.
type SKU struct {
	SKU         string    `gorm:"column:sku;primaryKey;size:64" json:"sku"`
	Title       string    `gorm:"size:255;not null" json:"title"`
	Price       int64     `gorm:"not null" json:"price"`
	Currency    string    `gorm:"size:3;not null" json:"currency"`
	Category    string    `gorm:"size:64;not null;index:idx_tmf_skus_category" json:"category,omitempty"`
	WeightGrams int64     `gorm:"not null" json:"weightGrams,omitempty"`
	Virtual     bool      `gorm:"column:is_virtual;not null" json:"virtual,omitempty"`
	UpdatedAt   time.Time `gorm:"not null" json:"updatedAt"`
}

// TableName implements gorm's schema.Tabler.
func (SKU) TableName() string { return "tmf_skus" }

// Order is an order's head. Amounts are in minor units of Currency. Lines are
// not written or read by gorm: the store writes and loads them explicitly.
type Order struct {
	ID      string `gorm:"primaryKey;size:40;index:idx_tmf_orders_buyer,priority:3;index:idx_tmf_orders_created,priority:2;index:idx_tmf_orders_biz,priority:3" json:"id"`
	BizCode string `gorm:"size:128;not null;index:idx_tmf_orders_biz,priority:1" json:"bizCode"`
	BuyerID string `gorm:"size:128;not null;index:idx_tmf_orders_buyer,priority:1" json:"buyerId"`
	// OwnerOrg is the id of the organisation node that owns the order ("" for
	// none). It names the node, not its path, so that moving a subtree of the
	// tree (MoveOrg) moves access to its orders at once, rewriting no order;
	// access filters reach the path through tmf_orgs (see Access).
	OwnerOrg      string `gorm:"size:64;not null;default:'';index:idx_tmf_orders_owner_org" json:"ownerOrg,omitempty"`
	Channel       string `gorm:"size:64;not null" json:"channel,omitempty"`
	Status        string `gorm:"size:64;not null;index:idx_tmf_orders_due,priority:1" json:"status"`
	Currency      string `gorm:"size:3;not null" json:"currency"`
	Subtotal      int64  `gorm:"not null" json:"subtotal"`
	Discount      int64  `gorm:"not null" json:"discount"`
	Freight       int64  `gorm:"not null" json:"freight"`
	Total         int64  `gorm:"not null" json:"total"`
	PaymentMethod string `gorm:"size:64;not null" json:"paymentMethod,omitempty"`
	// Shipping is JSON text (address, method), opaque to the store.
	Shipping        string      `gorm:"size:16777215;not null" json:"shipping,omitempty"`
	Location        string      `gorm:"size:64;not null" json:"location,omitempty"`
	Version         int64       `gorm:"not null" json:"version"`
	PaymentDeadline *time.Time  `gorm:"index:idx_tmf_orders_due,priority:2" json:"paymentDeadline,omitempty"`
	CreatedAt       time.Time   `gorm:"not null;index:idx_tmf_orders_buyer,priority:2;index:idx_tmf_orders_created,priority:1;index:idx_tmf_orders_biz,priority:2" json:"createdAt"`
	UpdatedAt       time.Time   `gorm:"not null" json:"updatedAt"`
	Lines           []OrderLine `gorm:"-" json:"lines"`
	// Attributes is the order's attributes as a JSON object, "" for none
	// (NULL in databases from before attributes).
	Attributes string `gorm:"size:16777215" json:"attributes,omitempty"`
	// ParentID is the parent of a sub-order, "" for other orders; SubOrders
	// counts a parent's sub-orders, 0 for other orders (see CreateFamily).
	ParentID  string `gorm:"size:40;not null;default:'';index:idx_tmf_orders_parent" json:"parentId,omitempty"`
	SubOrders int    `gorm:"not null;default:0" json:"subOrders,omitempty"`
}

// TableName implements gorm's schema.Tabler.
func (Order) TableName() string { return "tmf_orders" }

// Cursor is the keyset position of o, to list the orders after it.
func (o Order) Cursor() Cursor { return Cursor{CreatedAt: o.CreatedAt, ID: o.ID} }

// OrderLine is one line of an order.
type OrderLine struct {
	OrderID   string `gorm:"primaryKey;size:40;autoIncrement:false" json:"-"`
	LineNo    int    `gorm:"primaryKey;autoIncrement:false" json:"lineNo"`
	SKU       string `gorm:"column:sku;size:64;not null" json:"sku"`
	Quantity  int64  `gorm:"not null" json:"quantity"`
	ListPrice int64  `gorm:"not null" json:"listPrice"`
	UnitPrice int64  `gorm:"not null" json:"unitPrice"`
	LineTotal int64  `gorm:"not null" json:"lineTotal"`
	// Discount is the line's share of the order's discount (largest
	// remainder, so the lines' shares sum to the order's discount); what a
	// return of the whole line refunds is LineTotal − Discount.
	Discount int64 `gorm:"not null;default:0" json:"discount"`
}

// TableName implements gorm's schema.Tabler.
func (OrderLine) TableName() string { return "tmf_order_lines" }

// OrderReturn is one line of a (partial) return of a shipped order: the
// quantity asked back and the amount refunded for it (0 until the goods are
// received). ReturnID is the caller's idempotency key for the return; a
// return is opened once.
type OrderReturn struct {
	OrderID   string    `gorm:"primaryKey;size:40;autoIncrement:false" json:"-"`
	ReturnID  string    `gorm:"primaryKey;size:128;autoIncrement:false" json:"returnId"`
	LineNo    int       `gorm:"primaryKey;autoIncrement:false" json:"lineNo"`
	SKU       string    `gorm:"column:sku;size:64;not null" json:"sku"`
	Quantity  int64     `gorm:"not null" json:"quantity"`
	Refund    int64     `gorm:"not null" json:"refund"`
	Actor     string    `gorm:"size:128;not null" json:"actor,omitempty"`
	CreatedAt time.Time `gorm:"not null" json:"createdAt"`
}

// TableName implements gorm's schema.Tabler.
func (OrderReturn) TableName() string { return "tmf_order_returns" }

// States of a return.
const (
	ReturnRequested = "requested"
	ReturnApproved  = "approved"
	ReturnRejected  = "rejected"
	ReturnReceived  = "received"
	ReturnCancelled = "cancelled"
)

// OrderReturnRequest is the head of a return: its state, who opened it and
// why it was last moved. Lines and History are not written or read by
// gorm. Lines of a return recorded before returns were requests have no
// head; the store shows them as received.
type OrderReturnRequest struct {
	OrderID     string            `gorm:"primaryKey;size:40;autoIncrement:false" json:"orderId"`
	ReturnID    string            `gorm:"primaryKey;size:128;autoIncrement:false" json:"returnId"`
	State       string            `gorm:"size:16;not null" json:"state"`
	RequestedBy string            `gorm:"size:128;not null" json:"requestedBy,omitempty"`
	Reason      string            `gorm:"size:1024;not null" json:"reason,omitempty"`
	CreatedAt   time.Time         `gorm:"not null" json:"createdAt"`
	UpdatedAt   time.Time         `gorm:"not null" json:"updatedAt"`
	Lines       []OrderReturn     `gorm:"-" json:"lines"`
	History     []OrderReturnStep `gorm:"-" json:"history"`
}

// TableName implements gorm's schema.Tabler.
func (OrderReturnRequest) TableName() string { return "tmf_order_return_requests" }

// OrderReturnStep is one step of a return: opened, approved, rejected,
// received or cancelled, by whom and why.
type OrderReturnStep struct {
	ID        int64     `gorm:"primaryKey;autoIncrement" json:"-"`
	OrderID   string    `gorm:"size:40;not null;index:idx_tmf_order_return_steps_return,priority:1" json:"-"`
	ReturnID  string    `gorm:"size:128;not null;index:idx_tmf_order_return_steps_return,priority:2" json:"-"`
	FromState string    `gorm:"size:16;not null" json:"from,omitempty"`
	ToState   string    `gorm:"size:16;not null" json:"to"`
	Actor     string    `gorm:"size:128;not null" json:"actor,omitempty"`
	Reason    string    `gorm:"size:1024;not null" json:"reason,omitempty"`
	CreatedAt time.Time `gorm:"not null" json:"at"`
}

// TableName implements gorm's schema.Tabler.
func (OrderReturnStep) TableName() string { return "tmf_order_return_steps" }

// OrderHistory is one lifecycle step of an order. Version is the order's
// version after the step.
type OrderHistory struct {
	ID        int64     `gorm:"primaryKey;autoIncrement" json:"id"`
	OrderID   string    `gorm:"size:40;not null;index:idx_tmf_order_history_order" json:"orderId"`
	Version   int64     `gorm:"not null" json:"version"`
	Event     string    `gorm:"size:64;not null" json:"event"`
	FromState string    `gorm:"size:64;not null" json:"from,omitempty"`
	ToState   string    `gorm:"size:64;not null" json:"to"`
	Actor     string    `gorm:"size:128;not null" json:"actor,omitempty"`
	Reason    string    `gorm:"size:1024;not null" json:"reason,omitempty"`
	CreatedAt time.Time `gorm:"not null" json:"createdAt"`
}

// TableName implements gorm's schema.Tabler.
func (OrderHistory) TableName() string { return "tmf_order_history" }

// OrderTrace is one extension-point call that shaped an order (the kernel's
// trace record, flattened).
type OrderTrace struct {
	OrderID       string `gorm:"primaryKey;size:40;autoIncrement:false" json:"-"`
	Seq           int    `gorm:"primaryKey;autoIncrement:false" json:"seq"`
	Point         string `gorm:"size:128;not null" json:"point"`
	Impl          string `gorm:"size:128;not null" json:"impl"`
	Layer         string `gorm:"size:32;not null" json:"layer"`
	Source        string `gorm:"size:255;not null" json:"source,omitempty"`
	ImplVersion   string `gorm:"size:64;not null" json:"version,omitempty"`
	Origin        string `gorm:"size:128;not null" json:"origin,omitempty"`
	DurationNanos int64  `gorm:"not null" json:"durationNanos"`
	Outcome       string `gorm:"size:32;not null" json:"outcome"`
	Error         string `gorm:"size:16777215;not null" json:"error,omitempty"`
	// TraceID is the OpenTelemetry trace (32 hex digits) of the request
	// that made the call, "" when it was not traced.
	TraceID string `gorm:"size:32;not null;default:''" json:"traceId,omitempty"`
}

// TableName implements gorm's schema.Tabler.
func (OrderTrace) TableName() string { return "tmf_order_traces" }

// OutboxEvent is a message written in the same transaction as the change it
// announces, relayed at least once by a separate process.
type OutboxEvent struct {
	// ID is 128 random bits in hex, set by the store when empty.
	ID          string `gorm:"primaryKey;size:32" json:"id"`
	Topic       string `gorm:"size:128;not null" json:"topic"`
	AggregateID string `gorm:"size:64;not null;index:idx_tmf_outbox_aggregate" json:"aggregateId"`
	// BizCode is the business identity of the aggregate, "" when it has none
	// (a configuration revision, a bizpack).
	BizCode string `gorm:"size:128;not null;default:''" json:"bizCode,omitempty"`
	// Version is the aggregate's version after the change (an order's
	// version), 0 when it has none; consumers drop a version older than the
	// one they hold.
	Version int64 `gorm:"not null;default:0" json:"version,omitempty"`
	// Payload is JSON text.
	Payload     string     `gorm:"size:16777215;not null" json:"payload"`
	CreatedAt   time.Time  `gorm:"not null;index:idx_tmf_outbox_pending,priority:2" json:"createdAt"`
	DeliveredAt *time.Time `gorm:"index:idx_tmf_outbox_pending,priority:1" json:"deliveredAt,omitempty"`
	Attempts    int        `gorm:"not null" json:"attempts"`
	// Traceparent and Tracestate are the W3C trace context of the
	// transaction that wrote the event (CloudEvents' distributed-tracing
	// extension), "" when it was not traced.
	Traceparent string `gorm:"size:55;not null;default:''" json:"traceparent,omitempty"`
	Tracestate  string `gorm:"size:512;not null;default:''" json:"tracestate,omitempty"`
}

// TableName implements gorm's schema.Tabler.
func (OutboxEvent) TableName() string { return "tmf_outbox_events" }

// IdempotencyRecord remembers a request made with an Idempotency-Key and,
// once done, its answer.
type IdempotencyRecord struct {
	Principal   string    `gorm:"primaryKey;size:128" json:"principal"`
	Key         string    `gorm:"column:idem_key;primaryKey;size:255" json:"key"`
	RequestHash string    `gorm:"size:128;not null" json:"requestHash"`
	State       string    `gorm:"size:16;not null" json:"state"`
	StatusCode  int       `gorm:"not null" json:"statusCode,omitempty"`
	Body        string    `gorm:"size:16777215;not null" json:"body,omitempty"`
	CreatedAt   time.Time `gorm:"not null" json:"createdAt"`
	// UpdatedAt is when the record was claimed, renewed or completed; the
	// retention sweep deletes by it.
	UpdatedAt time.Time `gorm:"not null;index:idx_tmf_idempotency_updated" json:"updatedAt"`
	// Owner identifies the claim (128 random bits in hex): only its owner
	// renews or releases a running record, so an owner that was taken over
	// cannot touch its successor's claim.
	Owner string `gorm:"size:32;not null;default:''" json:"-"`
	// LeaseUntil is when a running claim that its owner stopped renewing
	// may be taken over; nil for records written before leases (their
	// lease runs from UpdatedAt).
	LeaseUntil *time.Time `json:"leaseUntil,omitempty"`
}

// TableName implements gorm's schema.Tabler.
func (IdempotencyRecord) TableName() string { return "tmf_idempotency_records" }

// readyProbe is the row a server node writes to prove that the database
// takes writes (see ProbeWrite): one per node, so that nodes do not queue
// on one row.
type readyProbe struct {
	Node     string    `gorm:"primaryKey;size:128"`
	ProbedAt time.Time `gorm:"not null"`
}

// TableName implements gorm's schema.Tabler.
func (readyProbe) TableName() string { return "tmf_ready_probe" }

// Principal is an API caller. TokenHash is the hex SHA-256 of its bearer
// token; the token itself is never stored.
type Principal struct {
	ID    string `gorm:"primaryKey;size:128" json:"id"`
	Roles string `gorm:"size:1024;not null" json:"roles"`
	// Org is the id of the principal's organisation node ("" for none); the
	// principal acts on the orders owned anywhere in that node's subtree. The
	// column keeps its older size (it held a path once) so that no existing
	// database has to shrink it.
	Org string `gorm:"size:128;not null" json:"org,omitempty"`
	// Identities lists the business-identity codes granted to an operator,
	// comma-separated; "*" grants all, "" none.
	Identities string `gorm:"size:1024;not null;default:''" json:"identities,omitempty"`
	TokenHash  string `gorm:"size:64;not null;uniqueIndex:uix_tmf_principals_token" json:"-"`
	// TokenExpiresAt, when set, is when the token stops authenticating.
	TokenExpiresAt *time.Time `json:"tokenExpiresAt,omitempty"`
	// Disabled principals do not authenticate.
	Disabled bool `gorm:"not null;default:false" json:"disabled,omitempty"`
	// Attrs is a JSON object of attributes (e.g. {"agentLevel":"1"}) that
	// policies and extension points may read; empty means none.
	Attrs     string    `gorm:"size:16777215;not null" json:"attrs,omitempty"`
	CreatedAt time.Time `gorm:"not null" json:"createdAt"`
	// OrgPath is not stored: reads fill it with the current path of Org's
	// node, "" when Org is empty or names no node.
	OrgPath string `gorm:"-" json:"orgPath,omitempty"`
}

// TableName implements gorm's schema.Tabler.
func (Principal) TableName() string { return "tmf_principals" }

// Org is a node of the organisation tree (HQ → regions → agents of the first
// and second tier → stores), stored with path enumeration: Path is the ids
// from the root down to the node, each followed by a slash, e.g.
// "/hq/east/sh-01/", so the subtree of a node is every node whose path starts
// with its path, and ordering by path keeps a subtree contiguous. Several
// roots are allowed. The store keeps Path equal to the parent's path + ID +
// "/" (see MoveOrg, CheckOrgTree).
type Org struct {
	// ID matches ^[a-z0-9][a-z0-9-]{0,63}$: no LIKE wildcard can appear in a path.
	ID string `gorm:"primaryKey;size:64" json:"id"`
	// Parent is the parent node's id, "" for a root.
	Parent string `gorm:"size:64;not null;default:'';index:idx_tmf_orgs_parent" json:"parent,omitempty"`
	// Path is set by the store; at most 1024 bytes.
	Path string `gorm:"size:1024;not null" json:"path"`
	// Name is free text, at most 200 characters.
	Name string `gorm:"size:200;not null;default:''" json:"name,omitempty"`
	// Kind is free text such as hq, region, agent1, agent2, store; at most 32 characters.
	Kind      string    `gorm:"size:32;not null;default:''" json:"kind,omitempty"`
	CreatedAt time.Time `gorm:"not null" json:"createdAt"`
	UpdatedAt time.Time `gorm:"not null" json:"updatedAt"`
}

// TableName implements gorm's schema.Tabler.
func (Org) TableName() string { return "tmf_orgs" }

// orgTable is Org as Migrate declares its table: Path gets its unique index
// and a column type per dialect, which a gorm tag on a plain string cannot
// give (see orgPathColumn). Reads and writes use Org.
type orgTable struct {
	Org
	Path orgPathColumn `gorm:"size:1024;not null;uniqueIndex:uix_tmf_orgs_path"`
}

// TableName implements gorm's schema.Tabler.
func (orgTable) TableName() string { return "tmf_orgs" }

// orgPathColumn is the type of tmf_orgs.path. Paths must compare byte by
// byte, so that a subtree is one index range (path LIKE '/hq/east/%' and
// ORDER BY path), and the column must fit a B-tree key: on PostgreSQL it
// gets the "C" collation (the database's own may ignore punctuation and
// cannot serve LIKE from an index), on MySQL the ascii charset (1024
// utf8mb4 characters exceed InnoDB's 3072-byte key). SQLite compares bytes
// already.
type orgPathColumn string

// GormDBDataType implements gorm's migrator.GormDataTypeInterface.
func (orgPathColumn) GormDBDataType(db *gorm.DB, _ *schema.Field) string {
	switch db.Dialector.Name() {
	case Postgres:
		return `varchar(1024) COLLATE "C"`
	case MySQL:
		return "varchar(1024) CHARACTER SET ascii COLLATE ascii_bin"
	}
	return ""
}

// orgTreeLock is a table of one row that every write of the organisation
// tree locks first, so that tree writes are serialised across processes on
// PostgreSQL and MySQL (SQLite serialises every write already).
type orgTreeLock struct {
	ID int `gorm:"primaryKey;autoIncrement:false"`
}

// TableName implements gorm's schema.Tabler.
func (orgTreeLock) TableName() string { return "tmf_org_tree_lock" }

// models lists every table, in creation order: the store's own, then the
// domains', which keep their tables in the same database so that an order
// and its stock, coupons and credit commit together.
func models() []any {
	out := []any{&SKU{}, &Order{}, &OrderLine{},
		&OrderHistory{}, &OrderReturn{}, &OrderReturnRequest{}, &OrderReturnStep{}, &OrderTrace{}, &OutboxEvent{}, &OutboxLease{}, &IdempotencyRecord{}, &Principal{},
		&orgTable{}, &orgTreeLock{}, &ConfigRevision{}, &AuditEntry{}, &readyProbe{},
		&OrderAttribute{}, &PurchaseCounter{}, &PurchaseUsage{}, &changes.Version{}}
	for _, ms := range [][]any{stock.Models(), promotion.Models(), payment.Models()} {
		out = append(out, ms...)
	}
	out = append(out, fulfilmentModels()...)
	return out
}
