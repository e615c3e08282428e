package stock

import (
	"strconv"
	"time"
)

// Key sizes. MySQL needs an explicit size on every indexed string column and
// SQLite enforces none, so the package checks them in Go.
const (
	MaxSKU      = 64
	MaxLocation = 64
	MaxChannel  = 64
	MaxOrderID  = 40
	MaxReturnID = 64
	maxSlot     = 72 // "ch:" + a channel
	maxReason   = 255
	// MaxBuckets is the most buckets SplitBuckets makes.
	MaxBuckets = 256
)

// Ledger kinds. Quantities of the order kinds are positive and name what
// moved out of the kind's source bucket; adjust and allocate are signed
// changes of sellable.
const (
	KindAdjust   = "adjust"   // operator change of sellable (SetSellable), signed
	KindAllocate = "allocate" // sellable moved between slots of one SKU and location: one row per slot, signed, summing to zero
	KindReserve  = "reserve"  // sellable → reserved, when an order is placed
	KindConfirm  = "confirm"  // reserved → frozen, when the order is paid
	KindRelease  = "release"  // reserved → sellable, when an unpaid order is cancelled or times out
	KindShip     = "ship"     // frozen → shipped
	KindUnfreeze = "unfreeze" // frozen → sellable, when a paid order is rejected or fails before shipping
	KindReturn   = "return"   // shipped → sellable, a (partial) return
)

// Channel setting modes (reference 004 §2.1.4).
const (
	// ModeShared caps what a channel may hold from the common pool; nothing
	// is set aside for it.
	ModeShared = "shared"
	// ModeMutex sets stock aside in the channel's slot: other channels can
	// no longer sell it, and the channel sells only from its slot unless it
	// also has a shared cap.
	ModeMutex = "mutex"
	// ModeExclusive makes the channel the only one that sells the SKU at the
	// location: all its sellable stock lives in the channel's slot.
	ModeExclusive = "exclusive"
)

// NoCap is the Cap of a shared setting that was removed while the channel
// still held stock under it: it no longer limits anything and is deleted
// once its Used drains to zero.
const NoCap = -1

// Slot names. The common pool is the empty slot.
const (
	PoolSlot      = ""
	channelPrefix = "ch:"
	bucketPrefix  = "b:"
)

// ChannelSlot is the slot that holds the stock set aside for channel.
func ChannelSlot(channel string) string { return channelPrefix + channel }

// BucketSlot is the slot of hot-SKU bucket i.
func BucketSlot(i int) string { return bucketPrefix + strconv.Itoa(i) }

// Location is a stock location (a warehouse, a shop, a virtual pool). The
// table keeps the name and columns it had in the platform store.
type Location struct {
	Name string `gorm:"primaryKey;size:64" json:"name"`
	// Regions the location ships to, comma-separated; empty means everywhere.
	Regions string `gorm:"size:1024;not null" json:"regions,omitempty"`
	// Priority: higher is preferred; Locations lists the highest first.
	Priority int `gorm:"not null" json:"priority"`
}

// TableName implements gorm's schema.Tabler.
func (Location) TableName() string { return "tmf_locations" }

// Slot is one part of the stock of a SKU at a location: the common pool
// (Slot ""), a channel's set-aside ("ch:<channel>") or a hot-SKU bucket
// ("b:<i>"). The physical stock of the SKU at the location is the sum of its
// slots. Invariant per slot: the adjust and allocate rows of the ledger sum
// to Sellable+Reserved+Frozen+Shipped, and no quantity is negative.
type Slot struct {
	SKU       string    `gorm:"column:sku;primaryKey;size:64" json:"sku"`
	Location  string    `gorm:"primaryKey;size:64" json:"location"`
	Slot      string    `gorm:"primaryKey;size:72" json:"slot"`
	Sellable  int64     `gorm:"not null" json:"sellable"`
	Reserved  int64     `gorm:"not null" json:"reserved"`
	Frozen    int64     `gorm:"not null" json:"frozen"`
	Shipped   int64     `gorm:"not null" json:"shipped"`
	UpdatedAt time.Time `gorm:"not null" json:"updatedAt"`
}

// TableName implements gorm's schema.Tabler.
func (Slot) TableName() string { return "tmf_stock_slots" }

// LedgerEntry is one row of the stock ledger. MoveKey is unique: a movement
// happens at most once. Rows of an order carry its line and the part of the
// line's reservation (a line reserved from two slots has parts 1 and 2); the
// later moves of a part hit the slot its reserve row names.
type LedgerEntry struct {
	ID       int64  `gorm:"primaryKey;autoIncrement" json:"id"`
	MoveKey  string `gorm:"size:255;not null;uniqueIndex:uix_tmf_stock_ledger_key" json:"moveKey"`
	SKU      string `gorm:"column:sku;size:64;not null" json:"sku"`
	Location string `gorm:"size:64;not null" json:"location"`
	Slot     string `gorm:"size:72;not null" json:"slot"`
	OrderID  string `gorm:"size:40;not null;index:idx_tmf_stock_ledger_order" json:"orderId,omitempty"`
	LineNo   int    `gorm:"not null" json:"lineNo,omitempty"`
	Part     int    `gorm:"not null" json:"part,omitempty"`
	// Channel is the channel whose shared cap the movement counts against
	// (reserve) or gives back to (release, unfreeze, return); empty when none.
	Channel  string `gorm:"size:64;not null" json:"channel,omitempty"`
	Kind     string `gorm:"size:16;not null" json:"kind"`
	Quantity int64  `gorm:"not null" json:"quantity"`
	Reason   string `gorm:"size:255;not null" json:"reason,omitempty"`
	// CreatedAt is UTC, microseconds.
	CreatedAt time.Time `gorm:"not null" json:"createdAt"`
}

// TableName implements gorm's schema.Tabler.
func (LedgerEntry) TableName() string { return "tmf_stock_ledger" }

// ChannelRow is one channel setting of a SKU at a location. A channel may
// have a mutex and a shared setting at once; an exclusive setting is the
// only setting of its SKU and location.
type ChannelRow struct {
	SKU      string `gorm:"column:sku;primaryKey;size:64" json:"sku"`
	Location string `gorm:"primaryKey;size:64" json:"location"`
	Channel  string `gorm:"primaryKey;size:64" json:"channel"`
	Mode     string `gorm:"primaryKey;size:16" json:"mode"`
	// Cap: for shared, the most the channel may hold from the common pool
	// (reserved, frozen or shipped and not returned), NoCap once removed;
	// for mutex, the quantity last set aside; 0 for exclusive.
	Cap int64 `gorm:"not null" json:"cap"`
	// Used (shared only): what the channel holds from the common pool under
	// the cap, taken by reservations and given back by release, unfreeze and
	// return.
	Used      int64     `gorm:"not null" json:"used"`
	UpdatedAt time.Time `gorm:"not null" json:"updatedAt"`
}

// TableName implements gorm's schema.Tabler.
func (ChannelRow) TableName() string { return "tmf_stock_channels" }

// BucketRow says that the common pool of a SKU at a location is split into
// Count hot-SKU buckets, slots b:0 … b:Count-1.
type BucketRow struct {
	SKU       string    `gorm:"column:sku;primaryKey;size:64" json:"sku"`
	Location  string    `gorm:"primaryKey;size:64" json:"location"`
	Count     int       `gorm:"column:bucket_count;not null" json:"count"`
	UpdatedAt time.Time `gorm:"not null" json:"updatedAt"`
}

// TableName implements gorm's schema.Tabler.
func (BucketRow) TableName() string { return "tmf_stock_buckets" }

// Shipment is the shipped part of an order line's reservation and what of
// it was returned: the counter that keeps returns of a line within what was
// shipped, changed only by conditional updates.
type Shipment struct {
	OrderID  string `gorm:"primaryKey;size:40" json:"orderId"`
	LineNo   int    `gorm:"primaryKey;autoIncrement:false" json:"lineNo"`
	Part     int    `gorm:"primaryKey;autoIncrement:false" json:"part"`
	SKU      string `gorm:"column:sku;size:64;not null" json:"sku"`
	Location string `gorm:"size:64;not null" json:"location"`
	Slot     string `gorm:"size:72;not null" json:"slot"`
	Channel  string `gorm:"size:64;not null" json:"channel,omitempty"`
	Shipped  int64  `gorm:"not null" json:"shipped"`
	Returned int64  `gorm:"not null" json:"returned"`
}

// TableName implements gorm's schema.Tabler.
func (Shipment) TableName() string { return "tmf_stock_shipments" }

// Models lists the domain's tables, for the platform's migration.
func Models() []any {
	return []any{&Location{}, &Slot{}, &LedgerEntry{}, &ChannelRow{}, &BucketRow{}, &Shipment{}, &Reservation{}}
}
