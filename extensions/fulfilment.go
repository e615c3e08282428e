package extensions

// FulfilmentRequest is the request of fulfilment.dispatch (hand a paid
// order to its supplier) and fulfilment.query (ask the supplier what became
// of it). Since protocol 1.3.
type FulfilmentRequest struct {
	// OrderID is the supplier's request key: dispatching the same order
	// again must not deliver twice, so an implementation passes it to the
	// supplier as its idempotency key (or request number).
	OrderID string `json:"orderId"`
	BizCode string `json:"bizCode"`
	BuyerID string `json:"buyerId"`
	Lines   []Line `json:"lines"`
	// Total is what the buyer paid.
	Total Money `json:"total"`
	// Attributes are the order's attributes (a top-up's phone number).
	Attributes map[string]any `json:"attributes,omitempty"`
	// Attempt counts the calls of this point for the order, from 1.
	Attempt int `json:"attempt"`
	// Supplier and Reference are what an earlier answer named (empty on
	// the first dispatch).
	Supplier  string `json:"supplier,omitempty"`
	Reference string `json:"reference,omitempty"`
}

// Outcomes of a FulfilmentAnswer.
const (
	// FulfilmentFulfilled: the supplier delivered; the order ends fulfilled.
	FulfilmentFulfilled = "fulfilled"
	// FulfilmentPending: the supplier accepted the order and answers later
	// (a signed callback, or a later fulfilment.query).
	FulfilmentPending = "pending"
	// FulfilmentRejected: the supplier refused for good; the order is
	// refunded in full and ends fulfil_failed.
	FulfilmentRejected = "rejected"
	// FulfilmentTransient: the supplier could not be reached or asked to
	// try again; the platform retries with exponential backoff until the
	// identity's fulfilment deadline.
	FulfilmentTransient = "transient"
)

// FulfilmentAnswer is the response of fulfilment.dispatch and
// fulfilment.query. An error returned instead counts as transient.
type FulfilmentAnswer struct {
	// Outcome is one of the Fulfilment* outcomes.
	Outcome string `json:"outcome"`
	// Supplier names the supplier that has the order; its signed callbacks
	// (POST /v1/fulfilment/callbacks/{supplier}) are accepted for the order.
	Supplier string `json:"supplier,omitempty"`
	// Reference is the supplier's own number for the order.
	Reference string `json:"reference,omitempty"`
	// Reason explains a rejected or transient outcome.
	Reason string `json:"reason,omitempty"`
}
