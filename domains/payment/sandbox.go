package payment

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"sync"
	"time"
)

// Op names a processor operation, for Sandbox rules and statistics.
type Op string

// Processor operations.
const (
	OpAuthorize Op = "authorize"
	OpCapture   Op = "capture"
	OpRefund    Op = "refund"
)

// Test card numbers with fixed outcomes in the Sandbox. Any other number
// that passes ParseCard is approved; one that does not is declined with
// "invalid_number".
const (
	CardApproved          = "4242424242424242" // approved
	CardDeclined          = "4000000000000002" // authorize declined: card_declined
	CardInsufficientFunds = "4000000000009995" // authorize declined: insufficient_funds
	CardExpired           = "4000000000000069" // authorize declined: expired_card
	CardProcessorError    = "4000000000000119" // authorize fails: *ProcessorError processing_error, every time
	CardCaptureDeclined   = "4000000000000341" // authorize approved, capture declined: card_declined
	CardHangs             = "4000000000000259" // authorize waits until the context ends: *ProcessorError timeout
)

// Rule programs Sandbox failures. A rule matches a call of its Op (every
// operation when empty) whose amount is above AmountAbove (any amount when
// 0); the first matching rule, in the order they were added, fails the call
// with a *ProcessorError (Processor) or a *DeclineError, with Code
// ("processing_error" or "card_declined" when empty) and Message. A rule
// with Times > 0 retires after failing that many calls. Replays of a key
// never reach the rules.
type Rule struct {
	Op          Op     `json:"op,omitempty"`
	Times       int    `json:"times,omitempty"`
	AmountAbove int64  `json:"amountAbove,omitempty"`
	Processor   bool   `json:"processor,omitempty"`
	Code        string `json:"code,omitempty"`
	Message     string `json:"message,omitempty"`
}

// SandboxStats counts what a Sandbox did.
type SandboxStats struct {
	// Calls counts every call per operation: replays and failures included.
	Calls map[Op]int
	// Authorizations, Captures and Refunds count the operations that took
	// effect; Authorized, Captured and Refunded sum their amounts.
	Authorizations, Captures, Refunds int
	Authorized, Captured, Refunded    int64
}

// Sandbox is an in-memory Processor that behaves like an acquirer: it keeps
// authorizations, captures and refunds, refuses to capture more than was
// authorized or refund more than was captured, remembers every key with
// its outcome (declines included; processor errors and timeouts are not
// remembered, so the same key may be tried again), answers
// "request_in_progress" to a call whose key is still being worked on, and
// keeps of a card only its brand and last four digits. Failures come from
// the test card numbers (Card… constants) and from rules (AddRule). It is
// safe for concurrent use; the zero value is not: use NewSandbox.
type Sandbox struct {
	mu       sync.Mutex
	latency  time.Duration
	rules    []*Rule
	keys     map[string]*sbEntry
	auths    map[string]*sbAuth
	captures map[string]*sbCapture
	seq      int
	stats    SandboxStats
}

type sbEntry struct {
	fingerprint string
	done        bool
	result      any
	err         error
}

type sbAuth struct {
	Authorization
	captured        int64
	declinesCapture bool
}

type sbCapture struct {
	Capture
	refunded int64
}

// NewSandbox returns an empty sandbox without rules or latency.
func NewSandbox() *Sandbox {
	return &Sandbox{
		keys:     map[string]*sbEntry{},
		auths:    map[string]*sbAuth{},
		captures: map[string]*sbCapture{},
		stats:    SandboxStats{Calls: map[Op]int{}},
	}
}

// SetLatency makes every call that is not a replay take d (or until its
// context ends), like a remote acquirer; 0 answers at once.
func (s *Sandbox) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// AddRule appends a failure rule.
func (s *Sandbox) AddRule(r Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &r)
}

// ClearRules removes every rule.
func (s *Sandbox) ClearRules() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = nil
}

// Stats returns a copy of the counters.
func (s *Sandbox) Stats() SandboxStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.Calls = maps.Clone(s.stats.Calls)
	return out
}

// Authorize implements Processor.
func (s *Sandbox) Authorize(ctx context.Context, req AuthorizeRequest) (Authorization, error) {
	info, cardErr := ParseCard(req.Card.Number)
	digits := normalizeCard(req.Card.Number)
	fp := fmt.Sprintf("%s|%s|%d|%s", info.Brand, info.Last4, req.Amount, req.Currency)
	res, err := s.call(ctx, OpAuthorize, req.Key, fp, req.Amount, digits == CardHangs && cardErr == nil, func() (any, error) {
		switch {
		case cardErr != nil:
			return nil, &DeclineError{Code: "invalid_number", Message: cardErr.(*InvalidCardError).Reason}
		case req.Amount <= 0:
			return nil, &DeclineError{Code: "invalid_amount", Message: "the amount must be positive"}
		case !validCurrency(req.Currency):
			return nil, &DeclineError{Code: "invalid_currency", Message: fmt.Sprintf("%q is not a currency code", req.Currency)}
		}
		return nil, nil
	}, func() (any, error) {
		switch digits {
		case CardDeclined:
			return nil, &DeclineError{Code: "card_declined", Message: "the card was declined"}
		case CardInsufficientFunds:
			return nil, &DeclineError{Code: "insufficient_funds", Message: "the card has insufficient funds"}
		case CardExpired:
			return nil, &DeclineError{Code: "expired_card", Message: "the card has expired"}
		case CardProcessorError:
			return nil, &ProcessorError{Code: "processing_error", Message: "the acquirer failed to process the card"}
		}
		s.seq++
		a := &sbAuth{Authorization: Authorization{ID: fmt.Sprintf("auth_%06d", s.seq), Amount: req.Amount,
			Currency: req.Currency, Card: info}, declinesCapture: digits == CardCaptureDeclined}
		s.auths[a.ID] = a
		s.stats.Authorizations++
		s.stats.Authorized += req.Amount
		return a.Authorization, nil
	})
	if err != nil {
		return Authorization{}, err
	}
	return res.(Authorization), nil
}

// Capture implements Processor.
func (s *Sandbox) Capture(ctx context.Context, req CaptureRequest) (Capture, error) {
	fp := fmt.Sprintf("%s|%d", req.AuthorizationID, req.Amount)
	res, err := s.call(ctx, OpCapture, req.Key, fp, req.Amount, false, func() (any, error) {
		a, ok := s.auths[req.AuthorizationID]
		switch {
		case !ok:
			return nil, &DeclineError{Code: "resource_missing", Message: fmt.Sprintf("no authorization %q", req.AuthorizationID)}
		case req.Amount <= 0:
			return nil, &DeclineError{Code: "invalid_amount", Message: "the amount must be positive"}
		case a.captured+req.Amount > a.Amount:
			return nil, &DeclineError{Code: "amount_too_large",
				Message: fmt.Sprintf("%d left to capture of authorization %s", a.Amount-a.captured, a.ID)}
		}
		return nil, nil
	}, func() (any, error) {
		a := s.auths[req.AuthorizationID]
		if a.declinesCapture {
			return nil, &DeclineError{Code: "card_declined", Message: "the capture was declined"}
		}
		a.captured += req.Amount
		s.seq++
		c := &sbCapture{Capture: Capture{ID: fmt.Sprintf("cap_%06d", s.seq), AuthorizationID: a.ID,
			Amount: req.Amount, Currency: a.Currency}}
		s.captures[c.ID] = c
		s.stats.Captures++
		s.stats.Captured += req.Amount
		return c.Capture, nil
	})
	if err != nil {
		return Capture{}, err
	}
	return res.(Capture), nil
}

// Refund implements Processor.
func (s *Sandbox) Refund(ctx context.Context, req RefundRequest) (Refund, error) {
	fp := fmt.Sprintf("%s|%d", req.CaptureID, req.Amount)
	res, err := s.call(ctx, OpRefund, req.Key, fp, req.Amount, false, func() (any, error) {
		c, ok := s.captures[req.CaptureID]
		switch {
		case !ok:
			return nil, &DeclineError{Code: "resource_missing", Message: fmt.Sprintf("no capture %q", req.CaptureID)}
		case req.Amount <= 0:
			return nil, &DeclineError{Code: "invalid_amount", Message: "the amount must be positive"}
		case c.refunded+req.Amount > c.Amount:
			return nil, &DeclineError{Code: "amount_too_large",
				Message: fmt.Sprintf("%d left to refund of capture %s", c.Amount-c.refunded, c.ID)}
		}
		return nil, nil
	}, func() (any, error) {
		c := s.captures[req.CaptureID]
		c.refunded += req.Amount
		s.seq++
		r := Refund{ID: fmt.Sprintf("re_%06d", s.seq), CaptureID: c.ID, Amount: req.Amount, Currency: c.Currency}
		s.stats.Refunds++
		s.stats.Refunded += req.Amount
		return r, nil
	})
	if err != nil {
		return Refund{}, err
	}
	return res.(Refund), nil
}

// call runs one operation: replay by key, wait for the latency (or forever
// when hang), then, under the lock, validate, apply the rules and act.
// Declines and results are remembered under the key; processor errors and
// timeouts are not.
func (s *Sandbox) call(ctx context.Context, op Op, key, fingerprint string, amount int64, hang bool,
	validate, act func() (any, error)) (any, error) {
	s.mu.Lock()
	s.stats.Calls[op]++
	if key == "" {
		s.mu.Unlock()
		return nil, &DeclineError{Code: "invalid_request", Message: "the idempotency key is missing"}
	}
	k := string(op) + "\x00" + key
	if e, ok := s.keys[k]; ok {
		done, fp, res, err := e.done, e.fingerprint, e.result, e.err
		s.mu.Unlock()
		switch {
		case !done:
			return nil, &ProcessorError{Code: "request_in_progress", Message: "a call with this key is in progress"}
		case fp != fingerprint:
			return nil, &ProcessorError{Code: "idempotency_key_reused", Message: "the key was used with other parameters"}
		}
		return res, err
	}
	e := &sbEntry{fingerprint: fingerprint}
	s.keys[k] = e
	latency := s.latency
	s.mu.Unlock()

	if err := wait(ctx, latency, hang); err != nil {
		s.mu.Lock()
		delete(s.keys, k)
		s.mu.Unlock()
		return nil, &ProcessorError{Code: "timeout", Message: "the acquirer did not answer in time", Err: err}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := validate()
	if err == nil {
		err = s.ruleError(op, amount)
	}
	if err == nil {
		res, err = act()
	}
	if _, ok := err.(*ProcessorError); ok {
		delete(s.keys, k)
		return nil, err
	}
	e.done, e.result, e.err = true, res, err
	return res, err
}

// wait sleeps d, or until ctx ends when hang; it returns the context's
// error when the context ended first.
func wait(ctx context.Context, d time.Duration, hang bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !hang && d <= 0 {
		return nil
	}
	var timer <-chan time.Time
	if !hang {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer:
		return nil
	}
}

// ruleError applies the first matching rule; the caller holds the lock.
func (s *Sandbox) ruleError(op Op, amount int64) error {
	for i, r := range s.rules {
		if (r.Op != "" && r.Op != op) || (r.AmountAbove > 0 && amount <= r.AmountAbove) {
			continue
		}
		if r.Times > 0 {
			r.Times--
			if r.Times == 0 {
				s.rules = append(s.rules[:i:i], s.rules[i+1:]...)
			}
		}
		if r.Processor {
			return &ProcessorError{Code: cmp.Or(r.Code, "processing_error"), Message: r.Message}
		}
		return &DeclineError{Code: cmp.Or(r.Code, "card_declined"), Message: r.Message}
	}
	return nil
}

// validCurrency reports whether c looks like an ISO 4217 code: three
// upper-case letters.
func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := range 3 {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}
