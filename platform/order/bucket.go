package order

// StockBucket is where an order in state holds its stock: "reserved"
// (placed, unpaid), "frozen" (paid, not shipped), "shipped" or "sellable"
// (given back: cancelled, failed, rejected); "" for a state the platform
// does not know (a custom lifecycle state). Reconciliation compares the
// stock ledger and the promotion ledgers with it.
func StockBucket(state string) string { return stockBucket(state) }
