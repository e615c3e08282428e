// Package pricing is the pricing domain: the unit prices of an order's
// lines, from the catalogue's list prices through the pricing.adjust
// pipeline, and the rounding rules that everybody who divides money uses.
//
// # Quantities
//
// Every amount is an int64 in minor units (fen, cents) of the order's
// currency; no float ever holds money. A price sheet
// (extensions.PriceSheet) carries the order's lines with their unit prices
// and the names of the adjustments that shaped them.
//
// # Point and default
//
// pricing.adjust is a pipeline: the platform default runs first, then the
// products of the identity by priority, then its bizpacks, each receiving
// the sheet as the one below left it. The contract of every implementation:
// it returns the same lines (SKUs and quantities unchanged) in a new Lines
// slice, never modifies the sheet it was given, never produces a negative
// price, and appends its name to Adjustments when it changed something; an
// implementation that does not apply returns extensions.ErrSkip and the
// sheet goes on unchanged. The point fails closed: an error fails the
// order.
//
// The default, pricing.list-price, checks the list prices it is given (a
// currency, positive quantities, non-negative prices) and changes nothing.
//
// # Rounding
//
// Two roundings, one per purpose, both in 128-bit arithmetic so that no
// amount overflows on the way:
//
//   - Percent(amount, basisPoints) rounds half up, for prices: a price of
//     95% of 1999 is 1899.05 → 1899, of 5 is 4.75 → 5, and exact halves go
//     up (0.5 → 1).
//   - PercentFloor(amount, basisPoints) rounds down, for discounts: 15% off
//     1999 is 299.85 → 299, so a discount is never more than its percentage.
//
// Allocate(total, weights) spreads an order-level amount, typically a
// discount, over the lines in proportion to their amounts by the
// largest-remainder method: every line gets the floor of its exact share,
// and the minor units left over go one each to the largest remainders,
// lowest index first on ties. The shares sum to exactly the total, no line
// gets more than its own amount, and a total above the sum of the weights
// is refused rather than capped. Refusals of these helpers are *RangeError.
//
// # Member prices
//
// MemberPrice is a configurable rule of pricing.adjust that products
// register under their own name (MemberPriceImpl): a buyer whose "tags"
// attribute (comma-separated) holds the configured tag pays the SKU's
// member price when one is listed, else the unit price times the configured
// basis points rounded half up, and never more than before; other buyers
// keep their prices. Its arguments are {"tag": "member", "basisPoints":
// 9500, "prices": {"SKU-1": 1200}}; the default arguments (no tag) change
// nothing, so an identity opts in by giving its own. Arguments are decoded
// strictly and validated when plans are compiled, every problem reported in
// one *ArgsError; pricing an order then runs in memory.
//
// The domain keeps no tables: prices come from the catalogue and rules from
// configuration.
package pricing
