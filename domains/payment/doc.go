// Package payment is the payment domain: which methods an order may be paid
// with, taking and giving back the money of an order by card, and the
// credit lines B2B agents order against.
//
// # Quantities
//
// Every amount is an int64 in minor units of an ISO 4217 currency (fen for
// CNY, cents for USD). Per order, the domain keeps what its charge captured
// and what was refunded of it; refunded never exceeds captured. Per agent,
// a credit line has a limit split into three parts that always add up to
// it, none ever negative:
//
//	credit_limit = available + reserved + used
//
// available may still be promised to orders, reserved is promised to
// placed but unpaid orders, used is owed for paid orders less their
// refunds.
//
// # Tables
//
//   - tmf_payments: one row per payment operation, a charge or a refund of an
//     order, by one method ("card", "agent_credit", …), under an idempotency
//     key that is unique across all payments. A payment is pending, then
//     succeeded or failed, once (a charge recovery gave up as abandoned
//     becomes succeeded if its capture turns up after all). It keeps the processor's reference, the
//     processor's failure code and message, and of a card only its brand and
//     last four digits: the number itself is never stored, logged or printed.
//   - tmf_payment_balances: one row per order: captured, refunded, and the
//     charge that holds the order (a pending or succeeded charge; an order
//     has at most one, whatever the keys).
//   - tmf_credit_accounts: one row per agent: currency, credit_limit,
//     available, reserved, used.
//   - tmf_credit_moves: the ledger of the credit lines, one row per movement
//     under a unique move key (ORDER/reserve, ORDER/settle for the capture or
//     the release, ORDER/refund/KEY, AGENT/limit/ID). The account always
//     equals what its moves add up to.
//
// Models lists them, and the sandbox acquirer's two tables, for the
// platform's migration.
//
// # Rules of change
//
// Counters change only by conditional updates whose row count is checked
// (available = available - ? WHERE available >= ?; refunded = refunded + ?
// WHERE refunded + ? <= captured), never by reading a value and writing it
// back, and without locks held across calls. Every movement first inserts
// its ledger row under its unique key with an insert that does nothing on
// a duplicate; a duplicate means the movement already happened and nothing
// more is done. So every operation can be repeated, concurrently or after a
// crash, and moves money once.
//
// # Card payments
//
// Payments charges and refunds orders through a Processor, an acquirer
// with five operations: Authorize (hold an amount on a card), Capture
// (take it), Void (let a hold go), Refund (give back part of a capture)
// and Lookup (what became of a call, by its key). Each processor call
// carries its own idempotency key, derived from the payment's id
// (ID/authorize, ID/capture, ID/void, ID/refund), so that trying a payment
// again replays at the acquirer instead of charging twice, and each is
// bounded by Payments.CallTimeout.
//
// A payment is a recoverable flow. Payments.Charge runs outside any
// transaction, because it must not hold one while the acquirer works. In a
// short transaction it records the attempt — the pending payment under
// the request's key — and takes the order's charge slot (refused with
// AlreadyPaidError or InProgressError when another charge holds it); it
// then authorizes and captures; a capture is handed to the caller's
// Settler, which records it (RecordCapture) together with what it pays
// for — the order's transition — in ONE transaction. A decline fails the
// payment (its code and message kept) and frees the order's slot. A
// processor error, a timeout or a failed settling decides nothing: the
// payment stays pending, and the next call with the same key resumes it.
// A call owns a pending payment for a lease (Payments.Lease): a
// concurrent call with the same key gets InProgressError, and a call that
// crashed is taken over when its lease runs out. The same key always
// answers with the same payment; N concurrent charges with one key
// capture once.
//
// Refunds are owed, then paid. OweRefund records a refund inside the
// transaction that decides it (a cancellation, a received return, a
// capture its order could not take): a pending refund whose amount is
// reserved on the balance at once (refunded + amount <= captured, so
// concurrent refunds never exceed the capture). Payments.Refund does the
// same and calls the processor at once. A decline fails a refund for good
// and gives its amount back (OnRefundFailed, FailedRefunds, RetryRefund).
// Refunds of an order paid with agent credit go to the agent's credit
// (RefundCredit).
//
// Payments.Recover is the durable recovery: it settles every pending
// payment nobody works on (lease run out) that is due (its next attempt
// has come; transient failures back off exponentially): owed refunds are
// paid; a charge is settled from what the processor knows of its keys — a
// capture is handed to the Settler, an authorization alone is voided and
// the charge fails as FailureAbandoned. Every step takes its payment with
// a conditional update, so any number of processes recover at once.
//
// # The sandbox
//
// Sandbox is the built-in Processor. It keeps its state in its own tables
// of the platform's database (tmf_sandbox_calls, tmf_sandbox_objects), so
// it survives restarts and every process on the database sees the same
// charges. It is strict like an acquirer: it remembers every key with its
// outcome (declines too), refuses to capture more than was authorized or a
// voided authorization, to void a captured one, to refund more than was
// captured, and answers "request_in_progress" to a second call with a key
// still being worked on (a call whose caller died is taken for dead after
// the caller's deadline). Test card numbers have fixed outcomes in every
// process:
//
//	4242424242424242  approved (as is any other valid number)
//	4000000000000002  declined: card_declined
//	4000000000009995  declined: insufficient_funds
//	4000000000000069  declined: expired_card
//	4000000000000119  processor error: processing_error
//	4000000000000341  authorized, then the capture is declined
//	4000000000000259  authorize hangs until the caller's context ends
//	4000000000003113  authorized, then the capture hangs
//	4000000000003055  the capture succeeds but its first answer is lost
//	4000000000003097  approved; every refund of it is declined
//
// and rules program more failures per Sandbox value: fail the next N calls
// of an operation, or every call above an amount, with a decline, a
// processor error, a hang or a lost answer. SetLatency makes it answer as
// slowly as a remote acquirer.
//
// # Agent credit
//
// For B2B distribution (reference 004: 预付款/授信) an agent orders against
// a credit line. SetCreditLimit opens or changes the line: the difference
// moves available, and a limit below what is in use is refused. At order
// placement, inside the order's transaction, ReserveCredit moves the total
// from available to reserved (InsufficientCreditError when it does not
// fit); at payment CaptureCredit moves it to used and records an
// agent_credit charge; a cancellation or timeout before payment
// ReleaseCredit gives it back to available; after payment RefundCredit
// gives back the whole or part (returns), never more than was captured.
// Capture and release of one order exclude each other, and each of these
// operations moves once however often it is called.
//
// # Extension points and defaults
//
// payment.methods ("first", fallback, 20 ms) lists the methods offered for
// an order, preferred first; an order asking for another method is
// refused. The platform default, payment.card, offers "card"; the
// b2b-distribution product offers "agent_credit".
//
// # Errors
//
// Refusals are typed, for stable API codes: InvalidRequestError,
// InvalidCardError, DeclineError, ProcessorError, InProgressError,
// AlreadyPaidError, KeyConflictError, RefundExceedsError,
// InsufficientCreditError, CreditLimitError, CreditAccountNotFoundError,
// CurrencyMismatchError and CreditReservationError. Database errors are
// returned wrapped with context.
package payment
