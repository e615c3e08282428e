// Package promotion is the promotion domain: the promotions an order may
// get, the coupons (红包) that unlock some of them, how several promotions
// stack, and the budgets that bound what a promotion gives away
// (reference 003: 优惠, 红包使用, 预算扣减, 分桶).
//
// # Quantities
//
// Every amount is an int64 in minor units (fen, cents) of one currency; a
// promotion has a currency and applies only to orders in it. A discount is
// never negative, never more than the lines it applies to, and the
// discounts of an order together never exceed its subtotal. Percentages
// are basis points (1 bp = 0.01%) and are rounded down per order line:
// floor(unit price × quantity × bp / 10000), so 15% of a 999 line is 149
// and a 100% discount is exactly the line.
//
// # Promotions
//
// A Promotion has a kind, conditions, parameters, an exclusion group and
// optionally a budget. The kinds:
//
//	percent_off    basis points of every matching line, rounded down per line, optionally capped (maxDiscount)
//	amount_off     a fixed amount off the matching lines, at most what they amount to
//	threshold      spend X on the matching lines, save Y (满X减Y); with repeat, Y per whole multiple of X,
//	               optionally at most maxRepeats times (满300减30, 上不封顶 or capped)
//	n_for_m        buy N pay M: matching units ranked dearest first, taken N at a time; in each complete
//	               group the cheapest N−M are free, leftover units pay full price
//	free_shipping  waives the order's freight, optionally only when the matching lines reach a threshold
//
// Conditions narrow where a promotion applies; every condition that is set
// must hold, an empty one holds for everything. SKUs and categories choose
// the matching lines (a line matches if its SKU or its category is listed;
// a promotion with neither matches every line; no matching line, no
// offer). Identities match the order's business identity and its
// descendants ("virtual" matches "virtual.topup.mobile"); channels match
// the order's channel; buyer tags match when the buyer's
// Attrs["tags"] (comma-separated) has at least one of them; the window
// [startsAt, endsAt) is half-open. Validation reports every problem of a
// promotion at once (*InvalidPromotionError): unknown kind, basis points
// outside 1..10000, negative amounts, a threshold saving more than it
// asks, N <= M, an empty window, parameters that are not the kind's, a
// budget on free shipping, and so on.
//
// # The Book
//
// Orders are never slowed by the promotion tables: a Book holds the
// compiled promotions and the group order in memory, as an immutable
// snapshot swapped atomically. Book.PutPromotion and Book.SetGroupOrder
// write the tables (optimistic versions: send the version you read);
// Book.Refresh reloads only when tmf_promotions changed (its row count and
// the sum of its versions, which every write increases) and is cheap
// enough to run every second; Book.MarkExhausted takes a promotion out of
// the offers at once when its budget runs out, until a refresh finds money
// in it again. Book.Use installs promotions from memory (tests, files).
//
// # Extension points and defaults
//
// promotion.candidates (collect, skip on failure) gathers what could
// apply. Its default, from Defaults(book), is Book.Offer: every enabled,
// matching, not exhausted promotion gives a candidate "promo:<id>";
// coupon-backed promotions give "coupon:<code>" only for the order's
// coupons that CheckCoupons mapped to them (PromotionRequest.CouponPromotions).
// Candidates carry what a stacker needs to recompute them: their lines
// (SKUs), basis points, threshold, per-multiple amount, proportionality.
//
// promotion.stack (first, fallback on failure) chooses what applies. The
// default applies the exclusion groups one after the other, in the Book's
// declared order and then alphabetically; within a group it re-evaluates
// each candidate on what earlier groups left of its lines and keeps the
// best deal for the buyer: the largest discount, then free shipping (worth
// zero here, because freight is computed after stacking: give free
// shipping a group of its own), then the smaller ID. An applied discount
// is spread over its lines in proportion to what is left of them, so a
// later 10%-off or spend-300-save-30 applies to the price after the
// earlier groups (see BestPerGroup). Without a Book, Defaults(nil) offers
// no promotions and stacks groups alphabetically.
//
// # Coupons
//
// A coupon (tmf_coupons) is a code for one coupon-backed promotion, owned
// by one buyer or by nobody, available or used by one order, with an
// optional expiry. IssueCoupons issues them idempotently. CheckCoupons,
// before pricing, refuses more than ten per order (*TooManyCouponsError),
// duplicates, and codes that do not exist, are someone else's, are used,
// have expired or whose promotion is disabled (*CouponError with a stable
// Reason). Redeem, inside the order's transaction, takes each applied
// coupon with one conditional update (available → used by this order):
// when two orders race for one coupon, exactly one update changes a row
// and the other order's whole transaction rolls back with a *CouponError.
// Release, when an unpaid order is cancelled, makes its coupons available
// again. Every use and release is a row of the coupon ledger
// (tmf_coupon_moves, unique per coupon, order and kind), inserted first,
// which is what makes Redeem and Release idempotent.
//
// # Budgets
//
// A promotion with a budget never gives away more than it: Redeem pays the
// discounts of the order's promotions from their budgets with conditional
// updates (remaining >= amount) on tmf_promotion_budgets, never a read
// followed by a write-back, and refuses with *BudgetExhaustedError when
// the money is not there. A hot budget can be split into buckets
// (BudgetBuckets, reference 003 分桶), so that concurrent orders update
// different rows: a buyer's discount is taken from the buyer's bucket
// (dbutil.Bucket of the buyer ID) when it can pay, else from the other
// buckets, in parts from several if need be; the buckets together never
// pay more than the budget. Bucket rows are always locked in ascending
// order (from the buyer's bucket upwards, or from bucket 0 when the
// buyer's bucket is seen empty), so budgets cannot deadlock orders on any
// of the three databases. Every grant, top-up, consumption and release is a row
// of the budget ledger (tmf_promotion_budget_moves, unique per
// promotion, kind and order or key) whose amounts add up to what the
// buckets hold. TopUpBudget adds money; GetBudget and BudgetMoves read it.
//
// # Tables
//
//	tmf_promotions              the promotions: kind, group, currency, flags, budget total, version; conditions and params as JSON
//	tmf_promotion_groups        the declared stacking order of the exclusion groups
//	tmf_coupons                 the coupons, keyed by code
//	tmf_coupon_moves            the coupon ledger: use and release per coupon and order
//	tmf_promotion_budgets       what is left of each budget, per promotion and bucket
//	tmf_promotion_budget_moves  the budget ledger: grant, topup, consume, release
//
// # In the order flow
//
// Place: CheckCoupons (before pricing, outside the transaction) → fill
// PromotionRequest.CouponPromotions → promotion.candidates →
// promotion.stack → … → Redeem with the applied candidates, as a step of
// the order's single transaction (it may run again if the database
// retries the transaction: it keeps no state). Cancellation before
// payment: Release in the cancellation's transaction (a refunded paid
// order may be released the same way, if the business gives coupons
// back). When Redeem answers *BudgetExhaustedError, mark the promotion
// exhausted in the Book and place the order again (if the error is
// Contended, other orders merely got there first: place it again without
// marking); a *CouponError or
// *TooManyCouponsError refuses the order. Refresh the Book every second
// or so and after admin writes.
package promotion
