package payment

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/domains/internal/dbutil"
)

// Op names a processor operation, for Sandbox rules, statistics and Lookup.
type Op string

// Processor operations.
const (
	OpAuthorize Op = "authorize"
	OpCapture   Op = "capture"
	OpVoid      Op = "void"
	OpRefund    Op = "refund"
)

// Test card numbers with fixed outcomes in the Sandbox. Any other number
// that passes ParseCard is approved; one that does not is declined with
// "invalid_number". They behave the same in every process on the database.
const (
	CardApproved          = "4242424242424242" // approved
	CardDeclined          = "4000000000000002" // authorize declined: card_declined
	CardInsufficientFunds = "4000000000009995" // authorize declined: insufficient_funds
	CardExpired           = "4000000000000069" // authorize declined: expired_card
	CardProcessorError    = "4000000000000119" // authorize fails: *ProcessorError processing_error, every time
	CardCaptureDeclined   = "4000000000000341" // authorize approved, capture declined: card_declined
	CardHangs             = "4000000000000259" // authorize waits until the context ends: *ProcessorError timeout
	CardCaptureHangs      = "4000000000003113" // authorize approved, capture waits until the context ends
	CardAnswerLost        = "4000000000003055" // the capture succeeds but its first answer is lost (*ProcessorError connection_reset)
	CardRefundDeclined    = "4000000000003097" // approved; every refund of its captures is declined: refund_declined
)

// Rule programs Sandbox failures. A rule matches a call of its Op (every
// operation when empty) whose amount is above AmountAbove (any amount when
// 0); the first matching rule, in the order they were added, fails the call:
//   - Processor: a *ProcessorError (a 5xx: nothing was done, the key is free);
//   - Lost: the call is done and remembered, but its answer is lost (a
//     *ProcessorError "connection_reset"; the same key replays the result);
//   - Hang: the call waits until its context ends (a *ProcessorError
//     "timeout"; nothing was done);
//   - otherwise a *DeclineError, remembered under the key.
//
// Code defaults to "processing_error", "connection_reset", "timeout" or
// "card_declined". A rule with Times > 0 retires after failing that many
// calls. Replays of a key never reach the rules. Rules belong to one
// Sandbox value (one process); test cards work everywhere.
type Rule struct {
	Op          Op     `json:"op,omitempty"`
	Times       int    `json:"times,omitempty"`
	AmountAbove int64  `json:"amountAbove,omitempty"`
	Processor   bool   `json:"processor,omitempty"`
	Lost        bool   `json:"lost,omitempty"`
	Hang        bool   `json:"hang,omitempty"`
	Code        string `json:"code,omitempty"`
	Message     string `json:"message,omitempty"`
}

// SandboxStats counts what one Sandbox value did.
type SandboxStats struct {
	// Calls counts every call per operation: replays and failures included.
	Calls map[Op]int
	// Authorizations, Captures, Voids and Refunds count the operations that
	// took effect; Authorized, Captured and Refunded sum their amounts.
	Authorizations, Captures, Voids, Refunds int
	Authorized, Captured, Refunded           int64
}

// SandboxStale is how long a call without a deadline may stay "in
// progress" under its key before the sandbox takes it for dead (its caller
// died mid-call); a call with a deadline is taken for dead a second after
// it.
const SandboxStale = 2 * time.Minute

// callExpiry is when the sandbox takes a call started at started for dead.
func callExpiry(ctx context.Context, started time.Time) int64 {
	expires := started.Add(SandboxStale)
	if dl, ok := ctx.Deadline(); ok && dl.Add(time.Second).Before(expires) {
		expires = dl.Add(time.Second)
	}
	return expires.UnixMicro()
}

// Sandbox is the built-in Processor. It behaves like an acquirer and keeps
// its state in its own tables of the platform's database
// (tmf_sandbox_calls, tmf_sandbox_objects), so that it survives restarts
// and every server on the database sees the same charges. It keeps
// authorizations, captures, voids and refunds; refuses to capture more than
// was authorized, to capture a voided authorization, to void a captured one
// or to refund more than was captured; remembers every key with its
// outcome (declines included; processor errors and timeouts are not
// remembered, so the same key may be tried again); answers
// "request_in_progress" to a call whose key is still being worked on;
// answers Lookup by key; and keeps of a card only its brand and last four
// digits. Failures come from the test card numbers (Card… constants) and
// from rules (AddRule). It is safe for concurrent use by several processes.
type Sandbox struct {
	db *gorm.DB

	mu      sync.Mutex
	latency time.Duration
	rules   []*Rule
	stats   SandboxStats
}

// sandboxCall is one key of one operation (table tmf_sandbox_calls): in
// progress, or done with its result or its decline.
type sandboxCall struct {
	CallKey     string `gorm:"primaryKey;size:320"`
	Fingerprint string `gorm:"size:255;not null"`
	State       string `gorm:"size:16;not null"` // running, done
	// Started (UTC Unix microseconds) is when the running call began;
	// Expires is when its caller stops waiting for it (its deadline, or
	// SandboxStale after it began): a call still running after that died
	// with its caller, did nothing, and its key is free again.
	Started        int64     `gorm:"not null"`
	Expires        int64     `gorm:"not null"`
	ResultID       string    `gorm:"size:64;not null"`
	DeclineCode    string    `gorm:"size:64;not null"`
	DeclineMessage string    `gorm:"size:255;not null"`
	UpdatedAt      time.Time `gorm:"not null"`
}

func (sandboxCall) TableName() string { return "tmf_sandbox_calls" }

// Sandbox object kinds.
const (
	sbAuthorization = "authorization"
	sbCapture       = "capture"
	sbVoid          = "void"
	sbRefund        = "refund"
)

// sandboxObject is what an operation made (table tmf_sandbox_objects).
type sandboxObject struct {
	ID       string `gorm:"primaryKey;size:64"`
	Kind     string `gorm:"size:16;not null"`
	Parent   string `gorm:"size:64;not null"` // the authorization of a capture or void, the capture of a refund
	Amount   int64  `gorm:"not null"`
	Currency string `gorm:"size:3;not null"`
	Brand    string `gorm:"size:16;not null"`
	Last4    string `gorm:"column:last4;size:4;not null"`
	// Used is what was captured of an authorization or refunded of a capture.
	Used   int64 `gorm:"not null"`
	Voided bool  `gorm:"not null"`
	// Behaviour of the test card, carried from the authorization.
	Card      string    `gorm:"size:32;not null"`
	CreatedAt time.Time `gorm:"not null"`
}

func (sandboxObject) TableName() string { return "tmf_sandbox_objects" }

// sandboxModels are the Sandbox's tables, for Models.
func sandboxModels() []any { return []any{&sandboxCall{}, &sandboxObject{}} }

// NewSandbox returns a sandbox over db, whose tables Models lists (the
// platform migrates them), without rules or latency.
func NewSandbox(db *gorm.DB) *Sandbox {
	return &Sandbox{db: db, stats: SandboxStats{Calls: map[Op]int{}}}
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

// Stats returns a copy of this value's counters.
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
	res, _, err := s.call(ctx, OpAuthorize, req.Key, fp, req.Amount, digits == CardHangs && cardErr == nil, false,
		func(tx *gorm.DB) (sandboxObject, error) {
			switch {
			case cardErr != nil:
				return sandboxObject{}, &DeclineError{Code: "invalid_number", Message: cardErr.(*InvalidCardError).Reason}
			case req.Amount <= 0:
				return sandboxObject{}, &DeclineError{Code: "invalid_amount", Message: "the amount must be positive"}
			case !validCurrency(req.Currency):
				return sandboxObject{}, &DeclineError{Code: "invalid_currency", Message: fmt.Sprintf("%q is not a currency code", req.Currency)}
			}
			switch digits {
			case CardDeclined:
				return sandboxObject{}, &DeclineError{Code: "card_declined", Message: "the card was declined"}
			case CardInsufficientFunds:
				return sandboxObject{}, &DeclineError{Code: "insufficient_funds", Message: "the card has insufficient funds"}
			case CardExpired:
				return sandboxObject{}, &DeclineError{Code: "expired_card", Message: "the card has expired"}
			case CardProcessorError:
				return sandboxObject{}, &ProcessorError{Code: "processing_error", Message: "the acquirer failed to process the card"}
			}
			behaviour := ""
			switch digits {
			case CardCaptureDeclined, CardCaptureHangs, CardAnswerLost, CardRefundDeclined:
				behaviour = digits
			}
			a := sandboxObject{ID: newID(authPrefix(behaviour)), Kind: sbAuthorization, Amount: req.Amount, Currency: req.Currency,
				Brand: info.Brand, Last4: info.Last4, Card: behaviour, CreatedAt: dbutil.Stamp(time.Now())}
			return a, tx.Create(&a).Error
		})
	if err != nil {
		return Authorization{}, err
	}
	return Authorization{ID: res.ID, Amount: res.Amount, Currency: res.Currency, Card: CardInfo{Brand: res.Brand, Last4: res.Last4}}, nil
}

// Capture implements Processor.
func (s *Sandbox) Capture(ctx context.Context, req CaptureRequest) (Capture, error) {
	fp := fmt.Sprintf("%s|%d", req.AuthorizationID, req.Amount)
	res, _, err := s.call(ctx, OpCapture, req.Key, fp, req.Amount,
		strings.HasPrefix(req.AuthorizationID, authPrefix(CardCaptureHangs)+"_"), strings.HasPrefix(req.AuthorizationID, authPrefix(CardAnswerLost)+"_"),
		func(tx *gorm.DB) (sandboxObject, error) {
			a, err := sbObject(tx, req.AuthorizationID, sbAuthorization)
			switch {
			case err != nil:
				return sandboxObject{}, err
			case req.Amount <= 0:
				return sandboxObject{}, &DeclineError{Code: "invalid_amount", Message: "the amount must be positive"}
			case a.Voided:
				return sandboxObject{}, &DeclineError{Code: "authorization_voided", Message: fmt.Sprintf("authorization %s was voided", a.ID)}
			case a.Used+req.Amount > a.Amount:
				return sandboxObject{}, &DeclineError{Code: "amount_too_large",
					Message: fmt.Sprintf("%d left to capture of authorization %s", a.Amount-a.Used, a.ID)}
			case a.Card == CardCaptureDeclined:
				return sandboxObject{}, &DeclineError{Code: "card_declined", Message: "the capture was declined"}
			}
			res := tx.Exec("UPDATE tmf_sandbox_objects SET used = used + ? WHERE id = ? AND voided = ? AND used + ? <= amount",
				req.Amount, a.ID, false, req.Amount)
			if res.Error != nil {
				return sandboxObject{}, res.Error
			}
			if res.RowsAffected != 1 {
				return sandboxObject{}, &DeclineError{Code: "authorization_changed", Message: "the authorization was voided or captured meanwhile"}
			}
			c := sandboxObject{ID: newID("cap"), Kind: sbCapture, Parent: a.ID, Amount: req.Amount, Currency: a.Currency,
				Brand: a.Brand, Last4: a.Last4, Card: a.Card, CreatedAt: dbutil.Stamp(time.Now())}
			return c, tx.Create(&c).Error
		})
	if err != nil {
		return Capture{}, err
	}
	return Capture{ID: res.ID, AuthorizationID: res.Parent, Amount: res.Amount, Currency: res.Currency}, nil
}

// Void implements Processor.
func (s *Sandbox) Void(ctx context.Context, req VoidRequest) (Void, error) {
	res, _, err := s.call(ctx, OpVoid, req.Key, req.AuthorizationID, 0, false, false, func(tx *gorm.DB) (sandboxObject, error) {
		a, err := sbObject(tx, req.AuthorizationID, sbAuthorization)
		if err != nil {
			return sandboxObject{}, err
		}
		res := tx.Exec("UPDATE tmf_sandbox_objects SET voided = ? WHERE id = ? AND voided = ? AND used = 0", true, a.ID, false)
		if res.Error != nil {
			return sandboxObject{}, res.Error
		}
		if res.RowsAffected != 1 {
			if a.Voided {
				return sandboxObject{}, &DeclineError{Code: "already_voided", Message: fmt.Sprintf("authorization %s is voided", a.ID)}
			}
			return sandboxObject{}, &DeclineError{Code: "already_captured", Message: fmt.Sprintf("authorization %s was captured", a.ID)}
		}
		v := sandboxObject{ID: newID("void"), Kind: sbVoid, Parent: a.ID, Amount: a.Amount, Currency: a.Currency,
			Brand: a.Brand, Last4: a.Last4, CreatedAt: dbutil.Stamp(time.Now())}
		return v, tx.Create(&v).Error
	})
	if err != nil {
		return Void{}, err
	}
	return Void{ID: res.ID, AuthorizationID: res.Parent, Amount: res.Amount}, nil
}

// Refund implements Processor.
func (s *Sandbox) Refund(ctx context.Context, req RefundRequest) (Refund, error) {
	fp := fmt.Sprintf("%s|%d", req.CaptureID, req.Amount)
	res, _, err := s.call(ctx, OpRefund, req.Key, fp, req.Amount, false, false, func(tx *gorm.DB) (sandboxObject, error) {
		c, err := sbObject(tx, req.CaptureID, sbCapture)
		switch {
		case err != nil:
			return sandboxObject{}, err
		case req.Amount <= 0:
			return sandboxObject{}, &DeclineError{Code: "invalid_amount", Message: "the amount must be positive"}
		case c.Used+req.Amount > c.Amount:
			return sandboxObject{}, &DeclineError{Code: "amount_too_large",
				Message: fmt.Sprintf("%d left to refund of capture %s", c.Amount-c.Used, c.ID)}
		case c.Card == CardRefundDeclined:
			return sandboxObject{}, &DeclineError{Code: "refund_declined", Message: "the issuer refused the refund"}
		}
		res := tx.Exec("UPDATE tmf_sandbox_objects SET used = used + ? WHERE id = ? AND used + ? <= amount", req.Amount, c.ID, req.Amount)
		if res.Error != nil {
			return sandboxObject{}, res.Error
		}
		if res.RowsAffected != 1 {
			return sandboxObject{}, &DeclineError{Code: "amount_too_large", Message: "the capture was refunded meanwhile"}
		}
		r := sandboxObject{ID: newID("re"), Kind: sbRefund, Parent: c.ID, Amount: req.Amount, Currency: c.Currency,
			Brand: c.Brand, Last4: c.Last4, CreatedAt: dbutil.Stamp(time.Now())}
		return r, tx.Create(&r).Error
	})
	if err != nil {
		return Refund{}, err
	}
	return Refund{ID: res.ID, CaptureID: res.Parent, Amount: res.Amount, Currency: res.Currency}, nil
}

// Lookup implements Processor: what became of the call of op under key.
func (s *Sandbox) Lookup(ctx context.Context, op Op, key string) (Outcome, error) {
	s.count(func(st *SandboxStats) { st.Calls[op+"/lookup"]++ })
	var c sandboxCall
	err := s.db.WithContext(ctx).Where("call_key = ?", callKey(op, key)).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Outcome{}, nil
	}
	if err != nil {
		return Outcome{}, unavailable(err)
	}
	if c.State != sbDone {
		if c.Expires < time.Now().UnixMicro() {
			return Outcome{}, nil // its caller died mid-call: it did nothing
		}
		return Outcome{InProgress: true}, nil
	}
	if c.DeclineCode != "" {
		return Outcome{Found: true, Decline: &DeclineError{Code: c.DeclineCode, Message: c.DeclineMessage}}, nil
	}
	o, err := sbObject(s.db.WithContext(ctx), c.ResultID, "")
	if err != nil {
		return Outcome{}, unavailable(err)
	}
	return Outcome{Found: true, ID: o.ID, Parent: o.Parent, Amount: o.Amount, Currency: o.Currency}, nil
}

const (
	sbRunning = "running"
	sbDone    = "done"
)

func callKey(op Op, key string) string { return string(op) + ":" + key }

// call runs one operation: replay by key, wait for the latency (or until
// the context ends when hang), apply the rules, then act in one
// transaction that also marks the key done. Declines and results are
// remembered under the key; processor errors and timeouts are not. With
// lose, the first answer of a successful call is lost.
func (s *Sandbox) call(ctx context.Context, op Op, key, fingerprint string, amount int64, hang, lose bool,
	act func(tx *gorm.DB) (sandboxObject, error)) (out sandboxObject, acted bool, err error) {
	s.mu.Lock()
	s.stats.Calls[op]++
	latency := s.latency
	s.mu.Unlock()
	if key == "" {
		return sandboxObject{}, false, &DeclineError{Code: "invalid_request", Message: "the idempotency key is missing"}
	}
	if len(key) > 300 {
		return sandboxObject{}, false, &DeclineError{Code: "invalid_request", Message: "the idempotency key is longer than 300 bytes"}
	}
	if err := ctx.Err(); err != nil {
		return sandboxObject{}, false, &ProcessorError{Code: "timeout", Message: "the call was cancelled before it was sent", Err: err}
	}
	// The acquirer's own bookkeeping goes on when the caller stops waiting.
	db := s.db.WithContext(context.WithoutCancel(ctx))
	ck := callKey(op, key)
	begun := time.Now()
	started, expires := begun.UnixMicro(), callExpiry(ctx, begun)
	mine := sandboxCall{CallKey: ck, Fingerprint: truncate(fingerprint, 255), State: sbRunning, Started: started, Expires: expires,
		UpdatedAt: dbutil.Stamp(begun)}
	if latency <= 0 && !hang && !lose && !s.hasRules() {
		// An acquirer that answers at once: the key, the work and the
		// outcome in one transaction (a concurrent call with the key waits
		// for it on the key's row, then replays it).
		out, inserted, err := s.callAtOnce(db, mine, act)
		if inserted || err != nil {
			if err == nil && out.ID != "" {
				s.countActed(op, out)
				return out, true, nil
			}
			if err == nil { // declined: answered from what was remembered
				replay, _, rerr := s.replay(db, ck, fingerprint, started, expires)
				return replay, false, rerr
			}
			return sandboxObject{}, false, err
		}
	}
	inserted, err := dbutil.InsertOnce(db, &mine)
	if err != nil {
		return sandboxObject{}, false, unavailable(err)
	}
	if !inserted {
		replay, ok, err := s.replay(db, ck, fingerprint, started, expires)
		if ok || err != nil {
			return replay, false, err
		}
		// Taken over from a caller that died.
	}
	free := func() {
		db.Where("call_key = ? AND state = ? AND started = ?", ck, sbRunning, started).Delete(&sandboxCall{})
	}

	rule := s.rule(op, amount)
	if rule != nil && rule.Hang {
		hang = true
	}
	if err := wait(ctx, latency, hang); err != nil {
		free()
		return sandboxObject{}, false, &ProcessorError{Code: "timeout", Message: "the acquirer did not answer in time", Err: err}
	}
	var ruleErr error
	if rule != nil && !rule.Hang {
		switch {
		case rule.Processor:
			free()
			return sandboxObject{}, false, &ProcessorError{Code: cmp.Or(rule.Code, "processing_error"), Message: rule.Message}
		case rule.Lost:
			lose = true
		default:
			ruleErr = &DeclineError{Code: cmp.Or(rule.Code, "card_declined"), Message: rule.Message}
		}
	}
	err = dbutil.RunTx(context.WithoutCancel(ctx), db, 8, func(tx *gorm.DB) error {
		var err error
		if ruleErr != nil {
			err = ruleErr
		} else {
			out, err = act(tx)
		}
		var decline *DeclineError
		switch {
		case err == nil:
			return finish(tx, ck, started, out.ID, nil)
		case errors.As(err, &decline):
			if ferr := finish(tx, ck, started, "", decline); ferr != nil {
				return ferr
			}
			return nil
		}
		return err
	})
	if err == nil && out.ID == "" {
		// Declined: read back what was remembered.
		replay, _, rerr := s.replay(db, ck, fingerprint, started, expires)
		return replay, false, rerr
	}
	var pe *ProcessorError
	if errors.As(err, &pe) {
		free()
		return sandboxObject{}, false, err
	}
	if err != nil {
		free()
		return sandboxObject{}, false, unavailable(err)
	}
	if lose {
		s.countActed(op, out)
		return sandboxObject{}, false, &ProcessorError{Code: "connection_reset", Message: "the connection closed before the answer arrived"}
	}
	s.countActed(op, out)
	return out, true, nil
}

// callAtOnce claims the key of a call, acts and records the outcome in ONE
// transaction; inserted is false (and nothing done) when the key exists.
// A processor error rolls everything back: the key stays free.
func (s *Sandbox) callAtOnce(db *gorm.DB, mine sandboxCall, act func(tx *gorm.DB) (sandboxObject, error)) (sandboxObject, bool, error) {
	var out sandboxObject
	inserted := false
	err := dbutil.RunTx(db.Statement.Context, db, 8, func(tx *gorm.DB) error {
		out, inserted = sandboxObject{}, false
		ok, err := dbutil.InsertOnce(tx, &mine)
		if err != nil || !ok {
			return err
		}
		inserted = true
		o, err := act(tx)
		var decline *DeclineError
		switch {
		case err == nil:
			out = o
			return finish(tx, mine.CallKey, mine.Started, o.ID, nil)
		case errors.As(err, &decline):
			return finish(tx, mine.CallKey, mine.Started, "", decline)
		}
		return err
	})
	var pe *ProcessorError
	switch {
	case errors.As(err, &pe):
		return sandboxObject{}, true, err
	case err != nil:
		return sandboxObject{}, true, unavailable(err)
	}
	return out, inserted, nil
}

func (s *Sandbox) hasRules() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rules) > 0
}

// finish marks a running call of this caller done, with its result or its
// decline.
func finish(tx *gorm.DB, ck string, started int64, resultID string, decline *DeclineError) error {
	code, msg := "", ""
	if decline != nil {
		code, msg = decline.Code, truncate(decline.Message, 255)
	}
	res := tx.Exec("UPDATE tmf_sandbox_calls SET state = ?, result_id = ?, decline_code = ?, decline_message = ?, updated_at = ? "+
		"WHERE call_key = ? AND state = ? AND started = ?", sbDone, resultID, code, msg, dbutil.Stamp(time.Now()), ck, sbRunning, started)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return &ProcessorError{Code: "request_in_progress", Message: "another call took this key over"}
	}
	return nil
}

// replay answers a call whose key exists: ok with the remembered outcome
// when it is done, a *ProcessorError while another call works on it, or
// ok false when this call (started) took a dead call's key over.
func (s *Sandbox) replay(db *gorm.DB, ck, fingerprint string, started, expires int64) (sandboxObject, bool, error) {
	var c sandboxCall
	if err := db.Where("call_key = ?", ck).Take(&c).Error; err != nil {
		return sandboxObject{}, true, unavailable(err)
	}
	if c.State != sbDone {
		if c.Started == started {
			return sandboxObject{}, false, nil
		}
		if c.Expires < started {
			res := db.Exec("UPDATE tmf_sandbox_calls SET started = ?, expires = ?, fingerprint = ? WHERE call_key = ? AND state = ? AND started = ?",
				started, expires, truncate(fingerprint, 255), ck, sbRunning, c.Started)
			if res.Error != nil {
				return sandboxObject{}, true, unavailable(res.Error)
			}
			if res.RowsAffected == 1 {
				return sandboxObject{}, false, nil
			}
		}
		return sandboxObject{}, true, &ProcessorError{Code: "request_in_progress", Message: "a call with this key is in progress"}
	}
	if c.Fingerprint != truncate(fingerprint, 255) {
		return sandboxObject{}, true, &ProcessorError{Code: "idempotency_key_reused", Message: "the key was used with other parameters"}
	}
	if c.DeclineCode != "" {
		return sandboxObject{}, true, &DeclineError{Code: c.DeclineCode, Message: c.DeclineMessage}
	}
	o, err := sbObject(db, c.ResultID, "")
	if err != nil {
		return sandboxObject{}, true, unavailable(err)
	}
	return o, true, nil
}

// sbObject reads an object of kind ("" for any); a missing one is the
// acquirer's "resource_missing" decline.
func sbObject(db *gorm.DB, id, kind string) (sandboxObject, error) {
	var o sandboxObject
	err := db.Where("id = ?", id).Take(&o).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || err == nil && kind != "" && o.Kind != kind {
		return sandboxObject{}, &DeclineError{Code: "resource_missing", Message: fmt.Sprintf("no %s %q", cmp.Or(kind, "object"), id)}
	}
	o.CreatedAt = dbutil.Stamp(o.CreatedAt)
	return o, err
}

// authPrefix is the id prefix of an authorization of a test card whose
// capture does not answer normally, so that Capture knows it without a
// query ("auth" for every other card).
func authPrefix(card string) string {
	switch card {
	case CardCaptureHangs:
		return "auth_hang"
	case CardAnswerLost:
		return "auth_lost"
	}
	return "auth"
}

// countActed counts an operation that took effect.
func (s *Sandbox) countActed(op Op, o sandboxObject) {
	s.count(func(st *SandboxStats) {
		switch op {
		case OpAuthorize:
			st.Authorizations++
			st.Authorized += o.Amount
		case OpCapture:
			st.Captures++
			st.Captured += o.Amount
		case OpVoid:
			st.Voids++
		case OpRefund:
			st.Refunds++
			st.Refunded += o.Amount
		}
	})
}

func (s *Sandbox) count(f func(*SandboxStats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}

// unavailable is the sandbox's own storage failing: to its caller, an
// acquirer that did not answer (nothing is known to be done).
func unavailable(err error) error {
	return &ProcessorError{Code: "processor_unavailable", Message: "the sandbox acquirer could not reach its storage", Err: err}
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

// rule takes the first matching rule, retiring it when its Times run out.
func (s *Sandbox) rule(op Op, amount int64) *Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
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
		out := *r
		return &out
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
