package payment

import "context"

// Processor is a card acquirer: it authorizes an amount on a card, captures
// what was authorized and refunds what was captured. Adapters for real
// acquirers implement it; Sandbox is the built-in one.
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
	Refund(ctx context.Context, req RefundRequest) (Refund, error)
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
