package payment

import "context"

// Processor is a card acquirer: it authorizes an amount on a card, captures
// what was authorized, voids an authorization that will not be captured,
// refunds what was captured, and tells what became of a call by its key.
// Adapters for real acquirers implement it; Sandbox is the built-in one.
//
// Contract, for every method:
//   - The request carries its own idempotency key. The same key with the
//     same parameters returns the first outcome (the result, or the same
//     *DeclineError) and never moves money twice; the same key with other
//     parameters is a *ProcessorError. Keys are scoped by operation.
//   - A *DeclineError is final and is remembered under the key.
//   - Any other error (a *ProcessorError, the context ending) decided
//     nothing that the key does not settle: calling again with the same key
//     finishes the operation or replays what was done.
//   - Calls honour ctx: they return when it ends.
//   - Implementations are safe for concurrent use.
type Processor interface {
	Authorize(ctx context.Context, req AuthorizeRequest) (Authorization, error)
	Capture(ctx context.Context, req CaptureRequest) (Capture, error)
	Void(ctx context.Context, req VoidRequest) (Void, error)
	Refund(ctx context.Context, req RefundRequest) (Refund, error)
	// Lookup answers what became of the call of op under key, without
	// doing anything: not found (the processor never acted on it), in
	// progress, declined, or done with what it made. Recovery uses it to
	// settle an attempt whose answer was lost.
	Lookup(ctx context.Context, op Op, key string) (Outcome, error)
}

// Outcome is what a processor knows of one call by its key.
type Outcome struct {
	// Found: the call finished (done or declined); neither Found nor
	// InProgress means the processor never acted on the key.
	Found      bool
	InProgress bool
	// Decline is the remembered decline of a declined call.
	Decline *DeclineError
	// ID is what the call made (an authorization, a capture, a void, a
	// refund); Parent is what it was made from (the authorization of a
	// capture or void, the capture of a refund).
	ID       string
	Parent   string
	Amount   int64
	Currency string
}

// VoidRequest asks to release an authorization that was not captured.
type VoidRequest struct {
	Key             string
	AuthorizationID string
}

// Void is a released authorization.
type Void struct {
	ID              string
	AuthorizationID string
	Amount          int64
}

// AuthorizeRequest asks to hold Amount (minor units of Currency) on Card.
type AuthorizeRequest struct {
	Key      string
	Card     Card
	Amount   int64
	Currency string
}

// Authorization is a hold on a card, to be captured.
type Authorization struct {
	ID       string
	Amount   int64
	Currency string
	Card     CardInfo
}

// CaptureRequest asks to take Amount (at most what is left of the
// authorization) from an authorization.
type CaptureRequest struct {
	Key             string
	AuthorizationID string
	Amount          int64
}

// Capture is money taken from a card.
type Capture struct {
	ID              string
	AuthorizationID string
	Amount          int64
	Currency        string
}

// RefundRequest asks to give back Amount (at most what is left of the
// capture) of a capture.
type RefundRequest struct {
	Key       string
	CaptureID string
	Amount    int64
}

// Refund is money given back to a card.
type Refund struct {
	ID        string
	CaptureID string
	Amount    int64
	Currency  string
}
