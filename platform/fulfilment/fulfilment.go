// Package fulfilment is the platform's supplier fulfilment (reference 000,
// JD's virtual order center): it hands paid orders of identities that
// configure supplier fulfilment to their supplier and moves them from
// fulfilling to fulfilled or fulfil_failed as the supplier answers.
//
// # Durable, on every node
//
// The pay transition into fulfilling writes the order's work row
// (store.Fulfilment) in its own transaction. Sweep takes rows that are due
// and that nobody works on with a conditional update of their lease, so
// any number of tmfd nodes run the worker at once and a node that crashes
// mid-call leaves its row to be taken over when the lease runs out. A row
// waiting to be dispatched calls fulfilment.dispatch (the order id is the
// supplier's request key, so a repeated dispatch never delivers twice); a
// row waiting for the supplier's answer polls fulfilment.query every
// pollEvery of the identity.
//
// # Answers
//
// fulfilled fires fulfil, rejected fires fulfil_fail (the order is
// refunded in full in that transaction), pending waits (a signed callback,
// Callback, or the next poll), transient (or an error) is retried with
// exponential backoff. The order's transition and the move of its row
// commit together. Past the identity's deadline the order is failed and
// refunded, whatever the supplier is doing (compensation).
//
// An answer that repeats what the order already is (a duplicate callback,
// a poll after a callback) changes nothing. A success that arrives after
// the order was refunded is a late success: it is recorded on the row,
// written as an order.fulfilment_late event, counted in a metric and
// listed for an operator (Late); the refund stands and nothing is charged
// again. A failure that arrives after a success is a conflict, refused.
package fulfilment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tmf-platform/tmf/domains/fulfilment"
	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/events"
	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/lifecycle"
	"github.com/tmf-platform/tmf/platform/order"
	"github.com/tmf-platform/tmf/platform/periodic"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/webhooks"
)

// Actor is recorded in the history of the transitions the worker fires;
// a callback's transitions are recorded as "supplier:<name>".
const Actor = "system:fulfilment"

// Sources of an answer, recorded with a late success.
const (
	SourceCallback = "callback"
	SourcePoll     = "poll"
	SourceDispatch = "dispatch"
)

// Defaults of Options.
const (
	DefaultInterval   = time.Second
	DefaultBatch      = 100
	DefaultLease      = time.Minute
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = 5 * time.Minute
)

// Errors of Callback, matched with errors.Is.
var (
	// ErrNotFound: no fulfilment of this order by this supplier.
	ErrNotFound = errors.New("fulfilment: no such fulfilment for this supplier")
	// ErrNotDispatched: the supplier has not been named by a dispatch
	// answer yet; the supplier should call again later.
	ErrNotDispatched = errors.New("fulfilment: the order is not dispatched to a supplier yet")
	// ErrConflict: a failure reported for an order its supplier already
	// delivered.
	ErrConflict = errors.New("fulfilment: the answer contradicts the supplier's earlier success")
	// ErrUnknownSupplier: no secret is configured for the supplier.
	ErrUnknownSupplier = errors.New("fulfilment: unknown supplier")
	// ErrSignature: the callback's signature or timestamp does not verify.
	ErrSignature = errors.New("fulfilment: the callback's signature does not verify")
	// ErrInvalid: the callback's body is malformed.
	ErrInvalid = errors.New("fulfilment: malformed callback")
	// ErrNotLate: no unresolved late success for the order.
	ErrNotLate = errors.New("fulfilment: no unresolved late success for this order")
)

// Options tune a Service; zero values take the defaults.
type Options struct {
	// Interval between sweeps.
	Interval time.Duration
	// Batch is the most rows one sweep query takes.
	Batch int
	// Lease is how long a worker owns a row it took; it must exceed the
	// fulfilment.dispatch deadline.
	Lease time.Duration
	// Backoff is the first retry delay after a transient answer, doubled
	// per attempt up to MaxBackoff (never past the order's deadline).
	Backoff, MaxBackoff time.Duration
	// Suppliers maps a supplier's name to its callback secret
	// ("whsec_<base64>", Standard Webhooks).
	Suppliers map[string]string
	// Tolerance is how far a callback's timestamp may be from now
	// (webhooks.DefaultTolerance when zero).
	Tolerance time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
	// Registerer takes the metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
}

// Service runs supplier fulfilment.
type Service struct {
	svc    *order.Service
	kernel *kernel.Kernel
	st     *store.Store
	o      Options
	late   prometheus.Counter
	ends   *prometheus.CounterVec
	open   prometheus.GaugeFunc
}

// New returns the fulfilment service over the order service, the kernel
// whose plans hold the fulfilment points, and the store.
func New(svc *order.Service, k *kernel.Kernel, st *store.Store, o Options) (*Service, error) {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Tolerance <= 0 {
		o.Tolerance = webhooks.DefaultTolerance
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	for name, secret := range o.Suppliers {
		if err := CheckSupplier(name, secret); err != nil {
			return nil, err
		}
	}
	s := &Service{svc: svc, kernel: k, st: st, o: o,
		late: prometheus.NewCounter(prometheus.CounterOpts{Name: "tmf_fulfilment_late_total",
			Help: "Supplier successes this process recorded after their order was refunded (each needs an operator)."}),
		ends: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tmf_fulfilment_ended_total",
			Help: "Orders this process moved out of fulfilling, by outcome (fulfilled, rejected, deadline)."}, []string{"outcome"}),
	}
	s.open = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tmf_fulfilment_late_unresolved",
		Help: "Late supplier successes no operator has resolved yet (from the database, so every node reports the same)."},
		func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := s.UnresolvedLate(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		})
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{s.late, s.ends, s.open} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("fulfilment: metrics: %w", err)
			}
		}
	}
	return s, nil
}

// CheckSupplier checks a supplier's name (1 to 64 of a-z 0-9 -) and secret.
func CheckSupplier(name, secret string) error {
	if !validSupplier(name) {
		return fmt.Errorf("fulfilment: supplier name %q: want 1 to 64 of a-z, 0-9 and -", name)
	}
	if err := webhooks.CheckSecret(secret); err != nil {
		return fmt.Errorf("fulfilment: supplier %s: %w", name, err)
	}
	return nil
}

func validSupplier(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// Run sweeps until ctx is done: every interval while sweeps find rows,
// at once when a fulfilment row is committed (by any server on
// PostgreSQL, by this one elsewhere), and otherwise less often, up to
// store.DuePoll (a supplier's next poll and a retry come due by the
// clock).
func (s *Service) Run(ctx context.Context) {
	idle := periodic.Idle{Busy: s.o.Interval, Max: func() time.Duration { return store.DuePoll },
		Signal: func() <-chan struct{} { return s.st.WorkSignal(store.WorkFulfilment) }}
	periodic.RunIdle(ctx, idle, s.o.Logger, "fulfilment sweep", func(ctx context.Context) (bool, error) {
		st, err := s.Sweep(ctx)
		return st.Taken > 0, err
	})
}

// Stats says what one sweep did.
type Stats struct {
	// Taken counts the rows this sweep worked on.
	Taken int
	// Ended counts the orders it moved to fulfilled or fulfil_failed.
	Ended int
}

// Sweep works on every row that is due and free, once.
func (s *Service) Sweep(ctx context.Context) (Stats, error) {
	var st Stats
	now := s.now()
	var due []store.Fulfilment
	if err := s.st.DB(ctx).Where("state IN ? AND next_attempt <= ? AND lease_until <= ?",
		[]string{store.FulfilmentDispatch, store.FulfilmentWaiting}, now.UnixMicro(), now.UnixMicro()).
		Order("next_attempt").Limit(s.o.Batch).Find(&due).Error; err != nil {
		return st, fmt.Errorf("fulfilment: due rows: %w", err)
	}
	var errs []error
	for _, row := range due {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		taken, ended, err := s.workOn(ctx, row.OrderID)
		if taken {
			st.Taken++
		}
		if ended {
			st.Ended++
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("order %s: %w", row.OrderID, err))
		}
	}
	return st, errors.Join(errs...)
}

func (s *Service) now() time.Time { return s.o.Now().UTC().Truncate(time.Microsecond) }

// workOn takes the lease of one row (taken false when another worker has
// it or it is no longer due) and does what it is due for.
func (s *Service) workOn(ctx context.Context, orderID string) (taken, ended bool, err error) {
	now := s.now()
	res := s.st.DB(ctx).Exec("UPDATE tmf_fulfilments SET lease_until = ?, attempts = attempts + 1, updated_at = ? "+
		"WHERE order_id = ? AND state IN ? AND next_attempt <= ? AND lease_until <= ?",
		now.Add(s.o.Lease).UnixMicro(), now, orderID, []string{store.FulfilmentDispatch, store.FulfilmentWaiting}, now.UnixMicro(), now.UnixMicro())
	if res.Error != nil {
		return false, false, fmt.Errorf("take the lease: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return false, false, nil
	}
	row, err := s.row(ctx, orderID)
	if err != nil {
		return true, false, err
	}
	if now.UnixMicro() >= row.Deadline {
		ended, err := s.fail(ctx, row, Actor, "deadline: the supplier did not deliver by the fulfilment deadline", "deadline")
		return true, ended, err
	}
	v, err := s.svc.Get(ctx, orderID)
	if err != nil {
		return true, false, s.retry(ctx, row, err.Error())
	}
	op, err := s.kernel.Continue(ctx, identity.Code(row.BizCode))
	if err != nil {
		return true, false, s.retry(ctx, row, err.Error())
	}
	req := extensions.FulfilmentRequest{OrderID: v.ID, BizCode: v.BizCode, BuyerID: v.BuyerID, Attempt: row.Attempts,
		Total: extensions.Money{Amount: v.Amounts.Total, Currency: v.Amounts.Currency}, Attributes: v.Attributes,
		Supplier: row.Supplier, Reference: row.Reference}
	for _, it := range v.Items {
		req.Lines = append(req.Lines, extensions.Line{SKU: it.SKU, Quantity: it.Quantity, UnitPrice: it.UnitPrice, Virtual: true})
	}
	source := SourceDispatch
	var ans extensions.FulfilmentAnswer
	if row.State == store.FulfilmentDispatch {
		ans, err = fulfilment.Dispatch.Call(op, req)
	} else {
		source = SourcePoll
		ans, err = fulfilment.Query.Call(op, req)
	}
	if err != nil {
		return true, false, s.retry(ctx, row, err.Error())
	}
	r, err := s.apply(ctx, row, ans, Actor, source)
	return true, r.ended, err
}

// outcome is what apply did.
type outcome struct {
	ended     bool // this call moved the order out of fulfilling
	duplicate bool // the answer repeated what the order already is
	late      bool // a success after the refund, recorded
}

// apply acts on one answer for a row (the worker holds its lease, or a
// callback answers).
func (s *Service) apply(ctx context.Context, row store.Fulfilment, ans extensions.FulfilmentAnswer, actor, source string) (outcome, error) {
	supplier := ans.Supplier
	if supplier == "" {
		supplier = row.Supplier
	}
	if supplier != "" && !validSupplier(supplier) {
		return outcome{}, s.retry(ctx, row, fmt.Sprintf("the answer names supplier %q: want 1 to 64 of a-z, 0-9 and -", supplier))
	}
	ref := ans.Reference
	if ref == "" {
		ref = row.Reference
	}
	if len(ref) > 128 || len(ans.Reason) > 512 {
		return outcome{}, s.retry(ctx, row, "the answer's reference or reason is too long")
	}
	switch ans.Outcome {
	case extensions.FulfilmentFulfilled:
		return s.end(ctx, row, lifecycle.EventFulfil, store.FulfilmentDone, supplier, ref, "", actor, source, "fulfilled")
	case extensions.FulfilmentRejected:
		reason := "rejected by the supplier"
		if ans.Reason != "" {
			reason += ": " + ans.Reason
		}
		return s.end(ctx, row, lifecycle.EventFulfilFail, store.FulfilmentFailed, supplier, ref, reason, actor, source, "rejected")
	case extensions.FulfilmentPending:
		next := min(s.now().Add(time.Duration(row.PollEveryMicros)*time.Microsecond).UnixMicro(), row.Deadline)
		err := s.st.DB(ctx).Exec("UPDATE tmf_fulfilments SET state = ?, supplier = ?, reference = ?, next_attempt = ?, lease_until = 0, "+
			"last_error = '', updated_at = ? WHERE order_id = ? AND state IN ?", store.FulfilmentWaiting, supplier, ref, next, s.now(),
			row.OrderID, []string{store.FulfilmentDispatch, store.FulfilmentWaiting}).Error
		return outcome{}, err
	case extensions.FulfilmentTransient:
		return outcome{}, s.retry(ctx, row, "transient: "+ans.Reason)
	}
	return outcome{}, s.retry(ctx, row, fmt.Sprintf("the answer's outcome %q is none of fulfilled, pending, rejected, transient", ans.Outcome))
}

// errRowMoved rolls back a transition whose row another answer moved first.
var errRowMoved = errors.New("fulfilment: the row moved on")

// end fires the order's fulfil or fulfil_fail with the row's move in its
// transaction. When the order is no longer fulfilling (another answer or
// the deadline came first), the answer is compared with what happened.
func (s *Service) end(ctx context.Context, row store.Fulfilment, event, state, supplier, ref, reason, actor, source, metric string) (outcome, error) {
	now := s.now()
	step := func(ctx context.Context, tx *gorm.DB) error {
		res := tx.WithContext(ctx).Exec("UPDATE tmf_fulfilments SET state = ?, supplier = ?, reference = ?, reason = ?, lease_until = 0, "+
			"updated_at = ? WHERE order_id = ? AND state IN ?", state, supplier, ref, reason, now, row.OrderID,
			[]string{store.FulfilmentDispatch, store.FulfilmentWaiting})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return errRowMoved
		}
		return nil
	}
	data := map[string]string{}
	for k, v := range map[string]string{"supplier": supplier, "reference": ref, "reason": reason} {
		if v != "" {
			data[k] = v
		}
	}
	_, err := s.svc.FireFulfilment(ctx, row.OrderID, event, actor, data, step)
	var oe *order.Error
	switch {
	case err == nil:
		s.ends.WithLabelValues(metric).Inc()
		return outcome{ended: true}, nil
	case errors.Is(err, errRowMoved), errors.As(err, &oe) && oe.Code == order.CodeEventNotAllowed:
		cur, rerr := s.row(ctx, row.OrderID)
		if rerr != nil {
			return outcome{}, rerr
		}
		return s.after(ctx, cur, state, ref, source)
	}
	if rerr := s.retry(ctx, row, err.Error()); rerr != nil {
		return outcome{}, errors.Join(err, rerr)
	}
	return outcome{}, err
}

// after compares an answer (want: the row state it asks for) with a row
// that has already ended.
func (s *Service) after(ctx context.Context, cur store.Fulfilment, want, ref, source string) (outcome, error) {
	switch {
	case cur.State == want:
		return outcome{duplicate: true}, nil
	case cur.State == store.FulfilmentFailed && want == store.FulfilmentDone:
		return s.recordLate(ctx, cur, ref, source)
	case cur.State == store.FulfilmentDone && want == store.FulfilmentFailed:
		return outcome{}, ErrConflict
	}
	return outcome{}, fmt.Errorf("fulfilment: order %s: row is %s and the order cannot take the answer", cur.OrderID, cur.State)
}

// fail ends a row and its order in fulfil_fail (the deadline).
func (s *Service) fail(ctx context.Context, row store.Fulfilment, actor, reason, metric string) (bool, error) {
	r, err := s.end(ctx, row, lifecycle.EventFulfilFail, store.FulfilmentFailed, row.Supplier, row.Reference, reason, actor, SourceDispatch, metric)
	return r.ended, err
}

// retry gives the row back with its next attempt after a backoff that
// doubles per attempt, never past the deadline (when the order fails).
func (s *Service) retry(ctx context.Context, row store.Fulfilment, why string) error {
	delay := s.o.Backoff
	for i := 1; i < row.Attempts && delay < s.o.MaxBackoff; i++ {
		delay *= 2
	}
	delay = min(delay, s.o.MaxBackoff)
	next := min(s.now().Add(delay).UnixMicro(), row.Deadline)
	if len(why) > 512 {
		why = why[:512]
	}
	return s.st.DB(ctx).Exec("UPDATE tmf_fulfilments SET next_attempt = ?, lease_until = 0, last_error = ?, updated_at = ? "+
		"WHERE order_id = ? AND state IN ?", next, why, s.now(), row.OrderID,
		[]string{store.FulfilmentDispatch, store.FulfilmentWaiting}).Error
}

// LatePayload is the payload of an order.fulfilment_late event.
type LatePayload struct {
	OrderID    string    `json:"orderId"`
	Supplier   string    `json:"supplier"`
	Reference  string    `json:"reference,omitempty"`
	Source     string    `json:"source"`
	ReceivedAt time.Time `json:"receivedAt"`
	Reason     string    `json:"reason,omitempty"`
}

// recordLate records a success that came after the order was refunded,
// once per order, with its order.fulfilment_late event in the same
// transaction.
func (s *Service) recordLate(ctx context.Context, cur store.Fulfilment, ref, source string) (outcome, error) {
	now := s.now()
	first := false
	err := s.st.Tx(ctx, func(tx *gorm.DB) error {
		res := tx.Exec("UPDATE tmf_fulfilments SET late_at = ?, late_reference = ?, late_source = ?, updated_at = ? "+
			"WHERE order_id = ? AND state = ? AND late_at IS NULL", now, ref, source, now, cur.OrderID, store.FulfilmentFailed)
		if res.Error != nil || res.RowsAffected != 1 {
			return res.Error
		}
		first = true
		var o store.Order
		if err := tx.Select("biz_code", "version").Where("id = ?", cur.OrderID).Take(&o).Error; err != nil {
			return fmt.Errorf("order %s: %w", cur.OrderID, err)
		}
		b, err := json.Marshal(LatePayload{OrderID: cur.OrderID, Supplier: cur.Supplier, Reference: ref, Source: source, ReceivedAt: now,
			Reason: cur.Reason})
		if err != nil {
			return err
		}
		return s.st.EnqueueIn(tx, cur.OrderID, store.OutboxEvent{Topic: events.OrderFulfilmentLate, AggregateID: cur.OrderID,
			BizCode: o.BizCode, Version: o.Version, Payload: string(b), CreatedAt: now})
	})
	if err != nil {
		return outcome{}, fmt.Errorf("fulfilment: record the late success of %s: %w", cur.OrderID, err)
	}
	if first {
		s.late.Inc()
		s.o.Logger.Warn("a supplier delivered an order after it was refunded: an operator must settle it",
			"order", cur.OrderID, "supplier", cur.Supplier, "reference", ref)
		return outcome{late: true}, nil
	}
	return outcome{late: true, duplicate: true}, nil
}

func (s *Service) row(ctx context.Context, orderID string) (store.Fulfilment, error) {
	var row store.Fulfilment
	err := s.st.DB(ctx).Where("order_id = ?", orderID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return row, ErrNotFound
	}
	return row, err
}

// Get returns the fulfilment of an order (ErrNotFound when it has none).
func (s *Service) Get(ctx context.Context, orderID string) (store.Fulfilment, error) {
	return s.row(ctx, orderID)
}

// CallbackBody is the body of a supplier's callback.
type CallbackBody struct {
	OrderID string `json:"orderId"`
	// Outcome is "fulfilled" or "failed".
	Outcome   string `json:"outcome"`
	Reference string `json:"reference,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// Callback outcomes.
const (
	CallbackFulfilled = "fulfilled"
	CallbackFailed    = "failed"
)

// CallbackResult answers a callback.
type CallbackResult struct {
	OrderID string `json:"orderId"`
	// Status is the order's state after the callback.
	Status string `json:"status"`
	// Fulfilment is the work row's state.
	Fulfilment string `json:"fulfilment"`
	// Duplicate: the answer (or the same message) was seen before and
	// changed nothing.
	Duplicate bool `json:"duplicate"`
	// Late: a success after the order was refunded, recorded for an
	// operator.
	Late bool `json:"late"`
}

// MaxCallbackBytes bounds a callback's body.
const MaxCallbackBytes = 16 << 10

// Verify checks a callback's Standard Webhooks signature with the
// supplier's secret and its timestamp against the tolerance.
func (s *Service) Verify(supplier string, h http.Header, body []byte) error {
	secret, ok := s.o.Suppliers[supplier]
	if !ok {
		return ErrUnknownSupplier
	}
	if err := webhooks.Verify(secret, h, body, s.o.Tolerance); err != nil {
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return nil
}

// Callback applies a verified callback of supplier, message id messageID
// (webhook-id). A message seen before is answered as it stands
// (Duplicate), never applied twice.
func (s *Service) Callback(ctx context.Context, supplier, messageID string, body []byte) (CallbackResult, error) {
	var cb CallbackBody
	if err := strictJSON(body, &cb); err != nil {
		return CallbackResult{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch {
	case cb.OrderID == "" || len(cb.OrderID) > 40:
		return CallbackResult{}, fmt.Errorf("%w: orderId is required (at most 40 characters)", ErrInvalid)
	case cb.Outcome != CallbackFulfilled && cb.Outcome != CallbackFailed:
		return CallbackResult{}, fmt.Errorf("%w: outcome must be fulfilled or failed", ErrInvalid)
	case len(cb.Reference) > 128 || len(cb.Reason) > 512:
		return CallbackResult{}, fmt.Errorf("%w: reference is at most 128 characters, reason 512", ErrInvalid)
	case messageID == "" || len(messageID) > 128:
		return CallbackResult{}, fmt.Errorf("%w: webhook-id is 1 to 128 characters", ErrInvalid)
	}
	row, err := s.row(ctx, cb.OrderID)
	if err != nil {
		return CallbackResult{}, err
	}
	switch {
	case row.Supplier == "" && (row.State == store.FulfilmentDispatch || row.State == store.FulfilmentWaiting):
		return CallbackResult{}, ErrNotDispatched
	case row.Supplier != supplier:
		return CallbackResult{}, ErrNotFound // another supplier's order is not this one's to know of
	}
	var seen store.FulfilmentCallback
	err = s.st.DB(ctx).Where("supplier = ? AND message_id = ?", supplier, messageID).Take(&seen).Error
	switch {
	case err == nil:
		if seen.OrderID != cb.OrderID {
			return CallbackResult{}, fmt.Errorf("%w: webhook-id %s was used for another order", ErrInvalid, messageID)
		}
		return s.result(ctx, cb.OrderID, outcome{duplicate: true})
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return CallbackResult{}, err
	}
	ans := extensions.FulfilmentAnswer{Outcome: extensions.FulfilmentFulfilled, Supplier: supplier, Reference: cb.Reference}
	if cb.Outcome == CallbackFailed {
		ans.Outcome, ans.Reason = extensions.FulfilmentRejected, cb.Reason
	}
	var r outcome
	switch row.State {
	case store.FulfilmentDispatch, store.FulfilmentWaiting:
		r, err = s.apply(ctx, row, ans, "supplier:"+supplier, SourceCallback)
	default:
		want := store.FulfilmentFailed
		if cb.Outcome == CallbackFulfilled {
			want = store.FulfilmentDone
		}
		r, err = s.after(ctx, row, want, cb.Reference, SourceCallback)
	}
	if err != nil {
		return CallbackResult{}, err
	}
	rec := store.FulfilmentCallback{Supplier: supplier, MessageID: messageID, OrderID: cb.OrderID, Outcome: cb.Outcome, ReceivedAt: s.now()}
	if err := s.st.DB(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&rec).Error; err != nil {
		return CallbackResult{}, fmt.Errorf("fulfilment: record callback %s: %w", messageID, err)
	}
	return s.result(ctx, cb.OrderID, r)
}

func (s *Service) result(ctx context.Context, orderID string, r outcome) (CallbackResult, error) {
	row, err := s.row(ctx, orderID)
	if err != nil {
		return CallbackResult{}, err
	}
	v, err := s.svc.Get(ctx, orderID)
	if err != nil {
		return CallbackResult{}, err
	}
	return CallbackResult{OrderID: orderID, Status: v.Status, Fulfilment: row.State, Duplicate: r.duplicate, Late: r.late}, nil
}

// maxList is the most rows Late and List return at once.
const maxList = 1000

// Late lists the late successes after the order id after (paging), oldest
// first; unresolved only unless all.
func (s *Service) Late(ctx context.Context, after string, limit int, all bool) ([]store.Fulfilment, error) {
	if limit <= 0 || limit > maxList {
		limit = 100
	}
	q := s.st.DB(ctx).Where("late_at IS NOT NULL AND order_id > ?", after)
	if !all {
		q = q.Where("late_resolved_at IS NULL")
	}
	out := []store.Fulfilment{}
	if err := q.Order("order_id").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("fulfilment: late successes: %w", err)
	}
	return out, nil
}

// List pages through the work rows in the given states (store.Fulfilment*
// constants; none: every state) after the order id after, by order id.
// Rows in dispatch or waiting are orders still fulfilling; failed ones
// were refunded.
func (s *Service) List(ctx context.Context, states []string, after string, limit int) ([]store.Fulfilment, error) {
	if limit <= 0 || limit > maxList {
		limit = 100
	}
	q := s.st.DB(ctx).Where("order_id > ?", after)
	if len(states) > 0 {
		q = q.Where("state IN ?", states)
	}
	out := []store.Fulfilment{}
	if err := q.Order("order_id").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("fulfilment: list: %w", err)
	}
	return out, nil
}

// UnresolvedLate counts the late successes no operator resolved.
func (s *Service) UnresolvedLate(ctx context.Context) (int64, error) {
	var n int64
	err := s.st.DB(ctx).Model(&store.Fulfilment{}).Where("late_at IS NOT NULL AND late_resolved_at IS NULL").Count(&n).Error
	return n, err
}

// ResolveLate records that an operator settled an order's late success
// with its supplier. Resolving again answers ErrNotLate.
func (s *Service) ResolveLate(ctx context.Context, orderID, actor string) (store.Fulfilment, error) {
	now := s.now()
	res := s.st.DB(ctx).Exec("UPDATE tmf_fulfilments SET late_resolved_at = ?, late_resolved_by = ?, updated_at = ? "+
		"WHERE order_id = ? AND late_at IS NOT NULL AND late_resolved_at IS NULL", now, actor, now, orderID)
	if res.Error != nil {
		return store.Fulfilment{}, res.Error
	}
	if res.RowsAffected != 1 {
		return store.Fulfilment{}, ErrNotLate
	}
	return s.row(ctx, orderID)
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the body")
	}
	return nil
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
