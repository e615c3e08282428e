package promotion

import "time"

// Models lists the domain's tables, for the platform's migration.
func Models() []any {
	return []any{&promotionRow{}, &groupRow{}, &Coupon{}, &CouponMove{}, &BudgetBucket{}, &BudgetMove{}}
}

// promotionRow is a Promotion as stored: the searchable fields as columns,
// conditions and parameters as JSON.
type promotionRow struct {
	ID             string    `gorm:"primaryKey;size:64"`
	Name           string    `gorm:"size:255;not null"`
	Kind           string    `gorm:"size:32;not null"`
	GroupName      string    `gorm:"column:group_name;size:64;not null"`
	Currency       string    `gorm:"size:3;not null"`
	CouponRequired bool      `gorm:"not null"`
	Enabled        bool      `gorm:"not null"`
	Budget         int64     `gorm:"not null"`
	BudgetBuckets  int       `gorm:"not null"`
	Conditions     string    `gorm:"size:16777215;not null"`
	Params         string    `gorm:"size:16777215;not null"`
	Version        int64     `gorm:"not null"`
	CreatedAt      time.Time `gorm:"not null"`
	UpdatedAt      time.Time `gorm:"not null"`
}

// TableName implements gorm's schema.Tabler.
func (promotionRow) TableName() string { return "tmf_promotions" }

// groupRow is one declared exclusion group and its place in the stacking
// order.
type groupRow struct {
	Name      string    `gorm:"primaryKey;size:64"`
	Position  int       `gorm:"not null"`
	UpdatedAt time.Time `gorm:"not null"`
}

// TableName implements gorm's schema.Tabler.
func (groupRow) TableName() string { return "tmf_promotion_groups" }

// Coupon states.
const (
	CouponAvailable = "available"
	CouponUsed      = "used"
)

// Coupon is one coupon (红包): a code that unlocks a coupon-backed
// promotion, for one buyer or for anyone, usable once.
type Coupon struct {
	Code        string `gorm:"primaryKey;size:64" json:"code"`
	PromotionID string `gorm:"size:64;not null;index:idx_tmf_coupons_promotion" json:"promotionId"`
	// Owner is the buyer the coupon belongs to; "" means anyone may use it.
	Owner string `gorm:"size:128;not null;index:idx_tmf_coupons_owner,priority:1" json:"owner,omitempty"`
	// State is CouponAvailable or CouponUsed.
	State string `gorm:"size:16;not null;index:idx_tmf_coupons_owner,priority:2" json:"state"`
	// OrderID is the order that uses the coupon, while it is used.
	OrderID   string     `gorm:"size:40;not null" json:"orderId,omitempty"`
	UsedAt    *time.Time `json:"usedAt,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	CreatedAt time.Time  `gorm:"not null" json:"createdAt"`
	// UpdatedAt changes with every change of state, so that a cache of a
	// buyer's coupons can tell it is stale (reference 003, 红包展示).
	UpdatedAt time.Time `gorm:"not null" json:"updatedAt"`
}

// TableName implements gorm's schema.Tabler.
func (Coupon) TableName() string { return "tmf_coupons" }

// Kinds of coupon and budget moves.
const (
	MoveUse     = "use"     // a coupon used by an order
	MoveRelease = "release" // a coupon or budget consumption given back by a cancelled order
	MoveGrant   = "grant"   // a promotion's initial budget
	MoveTopUp   = "topup"   // money added to a budget
	MoveConsume = "consume" // a discount paid from a budget by an order
)

// CouponMove is one entry of the coupon ledger: a use of a coupon by an
// order, or its release. (Code, OrderID, Kind) is unique, so each happens
// at most once per order.
type CouponMove struct {
	Code        string    `gorm:"primaryKey;size:64" json:"code"`
	OrderID     string    `gorm:"primaryKey;size:40;index:idx_tmf_coupon_moves_order" json:"orderId"`
	Kind        string    `gorm:"primaryKey;size:16" json:"kind"`
	PromotionID string    `gorm:"size:64;not null" json:"promotionId"`
	BuyerID     string    `gorm:"size:128;not null" json:"buyerId"`
	CreatedAt   time.Time `gorm:"not null" json:"createdAt"`
}

// TableName implements gorm's schema.Tabler.
func (CouponMove) TableName() string { return "tmf_coupon_moves" }

// BudgetBucket is one row of a promotion's budget: what is left of it, in
// minor units of Currency. A budget of N buckets has rows 0 to N-1; only
// conditional updates (remaining >= amount) take money out.
type BudgetBucket struct {
	PromotionID string    `gorm:"primaryKey;size:64" json:"promotionId"`
	Bucket      int       `gorm:"primaryKey;autoIncrement:false" json:"bucket"`
	Remaining   int64     `gorm:"not null" json:"remaining"`
	Currency    string    `gorm:"size:3;not null" json:"currency"`
	UpdatedAt   time.Time `gorm:"not null" json:"updatedAt"`
}

// TableName implements gorm's schema.Tabler.
func (BudgetBucket) TableName() string { return "tmf_promotion_budgets" }

// BudgetMove is one entry of the budget ledger. (PromotionID, Kind, Ref)
// is unique: Ref is the order ID for consume and release, the caller's key
// for a top-up, "initial" for the grant. Amount is the signed change of
// the budget's remaining total; Parts says which buckets it touched, as
// "bucket:amount" pairs separated by commas. The sum of Amount over a
// promotion's moves equals the sum of its buckets' Remaining.
type BudgetMove struct {
	PromotionID string    `gorm:"primaryKey;size:64" json:"promotionId"`
	Kind        string    `gorm:"primaryKey;size:16" json:"kind"`
	Ref         string    `gorm:"primaryKey;size:128;index:idx_tmf_promotion_budget_moves_ref" json:"ref"`
	Amount      int64     `gorm:"not null" json:"amount"`
	Currency    string    `gorm:"size:3;not null" json:"currency"`
	BuyerID     string    `gorm:"size:128;not null" json:"buyerId,omitempty"`
	Parts       string    `gorm:"size:16777215;not null" json:"parts"`
	CreatedAt   time.Time `gorm:"not null" json:"createdAt"`
}

// TableName implements gorm's schema.Tabler.
func (BudgetMove) TableName() string { return "tmf_promotion_budget_moves" }
