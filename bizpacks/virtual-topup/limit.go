package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tmf-platform/tmf/extensions"
)

// The lifecycle events the daily limit listens to (the names of the
// platform's default graph).
const (
	eventPlace          = "place"
	eventCancel         = "cancel"
	eventPaymentTimeout = "payment_timeout"
	eventPaymentFail    = "payment_fail"
)

// DefaultDailyLimit is the most one account may top up per UTC day unless
// the configuration says otherwise: 50000 minor units, 500.00 CNY.
const DefaultDailyLimit = 50000

// Config is the bizpack's own configuration. The platform passes a bizpack
// no arguments, so it is compiled in: to change the limit, change
// DefaultConfig and rebuild (and bind the new binary's checksum).
type Config struct {
	// DailyLimit is the most one account may top up per UTC day, in minor
	// units of Currency; at least 1.
	DailyLimit int64
	// Currency is the ISO 4217 code DailyLimit is counted in. Orders in
	// another currency are denied: their amounts cannot be added up.
	Currency string
}

// DefaultConfig is the configuration the binary runs with: 500.00 CNY a day.
func DefaultConfig() Config { return Config{DailyLimit: DefaultDailyLimit, Currency: "CNY"} }

// Validate refuses a limit below 1 and a blank currency.
func (c Config) Validate() error {
	var problems []string
	if c.DailyLimit < 1 {
		problems = append(problems, fmt.Sprintf("DailyLimit %d must be at least 1", c.DailyLimit))
	}
	if strings.TrimSpace(c.Currency) == "" {
		problems = append(problems, "Currency is required")
	}
	if len(problems) > 0 {
		return fmt.Errorf("configuration: %s", strings.Join(problems, "; "))
	}
	return nil
}

// DailyLimit is the bizpack's order.guard: a per-account daily limit on the
// amount topped up. The account is the order's buyer (GuardRequest.BuyerID)
// and the day is the UTC calendar day of the clock.
//
//   - On "place" it holds the order's total against the account's day and
//     allows, if what the account already holds today plus the total is at
//     most Config.DailyLimit; otherwise it denies with
//     "daily_limit_exceeded", naming the amounts, and holds nothing. An
//     order in another currency than Config.Currency is denied with
//     "currency_not_supported".
//   - On "cancel", "payment_timeout" and "payment_fail" it releases the
//     order's hold, if it has one today, and allows.
//   - Every other event does not concern it: ErrSkip. A paid order ("pay")
//     keeps its hold: the money was topped up.
//
// Holding and releasing are idempotent by order id, because the platform may
// ask the same question more than once (speculatively, or on a retry): an
// order placed twice is held once and allowed both times, a release of an
// order that holds nothing changes nothing. At the start of a new UTC day
// every hold of the previous day is forgotten, so a release that arrives
// after midnight frees nothing of the new day.
//
// The holds live in this process only: a restart forgets them, and each
// server runs its own bizpack process with its own holds (see README.md).
//
// DailyLimit is safe for concurrent use: one mutex serialises the check and
// the hold, so concurrent orders of one account never hold more than the
// limit together.
type DailyLimit struct {
	cfg Config
	now func() time.Time

	mu       sync.Mutex
	day      day                 // the UTC day the accounts' holds belong to
	accounts map[string]*account // by buyer id; only accounts that hold something
}

// day is a UTC calendar day.
type day struct {
	year  int
	month time.Month
	day   int
}

func dayOf(t time.Time) day {
	y, m, d := t.UTC().Date()
	return day{y, m, d}
}

func (d day) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.year, d.month, d.day) }

// account is what one account holds today.
type account struct {
	total  int64            // sum of orders; never above the limit
	orders map[string]int64 // amount held per order id
}

// NewDailyLimit returns the guard with cfg, reading the time from now.
func NewDailyLimit(cfg Config, now func() time.Time) (*DailyLimit, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		return nil, errors.New("configuration: a clock is required")
	}
	return &DailyLimit{cfg: cfg, now: now, accounts: map[string]*account{}}, nil
}

// Guard answers order.guard (see DailyLimit). It returns an error, not a
// verdict, when ctx is done and when the request lacks what the platform
// always sends (an order id, a buyer id, a total that is not negative).
func (d *DailyLimit) Guard(ctx context.Context, req extensions.GuardRequest) (extensions.Verdict, error) {
	if err := ctx.Err(); err != nil {
		return extensions.Verdict{}, err
	}
	switch req.Event {
	case eventPlace:
		return d.hold(req)
	case eventCancel, eventPaymentTimeout, eventPaymentFail:
		if err := checkIDs(req); err != nil {
			return extensions.Verdict{}, err
		}
		d.release(req.BuyerID, req.OrderID)
		return extensions.Allow(), nil
	}
	return extensions.Verdict{}, extensions.ErrSkip
}

func checkIDs(req extensions.GuardRequest) error {
	switch {
	case req.OrderID == "":
		return fmt.Errorf("order.guard %s: the request has no order id", req.Event)
	case req.BuyerID == "":
		return fmt.Errorf("order.guard %s of order %s: the request has no buyer id", req.Event, req.OrderID)
	}
	return nil
}

func (d *DailyLimit) hold(req extensions.GuardRequest) (extensions.Verdict, error) {
	if err := checkIDs(req); err != nil {
		return extensions.Verdict{}, err
	}
	amount := req.Total.Amount
	if amount < 0 {
		return extensions.Verdict{}, fmt.Errorf("order.guard place of order %s: negative total %d", req.OrderID, amount)
	}
	if req.Total.Currency != d.cfg.Currency {
		return extensions.Deny("currency_not_supported", fmt.Sprintf(
			"order %s is in %q; the daily top-up limit is counted in %s", req.OrderID, req.Total.Currency, d.cfg.Currency)), nil
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	today := d.rollLocked()
	a := d.accounts[req.BuyerID]
	if a == nil {
		a = &account{orders: map[string]int64{}}
	}
	if _, held := a.orders[req.OrderID]; held {
		return extensions.Allow(), nil // asked again: counted once
	}
	// a.total <= DailyLimit always, so the subtraction cannot overflow.
	if room := d.cfg.DailyLimit - a.total; amount > room {
		return extensions.Deny("daily_limit_exceeded", fmt.Sprintf(
			"account %s has topped up %d today (UTC %s); order %s adds %d, above the daily limit of %d (minor units of %s, %d left)",
			req.BuyerID, a.total, today, req.OrderID, amount, d.cfg.DailyLimit, d.cfg.Currency, room)), nil
	}
	a.total += amount
	a.orders[req.OrderID] = amount
	d.accounts[req.BuyerID] = a
	return extensions.Allow(), nil
}

func (d *DailyLimit) release(buyer, orderID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rollLocked()
	a := d.accounts[buyer]
	if a == nil {
		return
	}
	amount, held := a.orders[orderID]
	if !held {
		return
	}
	a.total -= amount
	delete(a.orders, orderID)
	if len(a.orders) == 0 {
		delete(d.accounts, buyer)
	}
}

// rollLocked forgets every hold when the UTC day has changed since the last
// call, and returns today. The caller holds d.mu.
func (d *DailyLimit) rollLocked() day {
	today := dayOf(d.now())
	if today != d.day {
		d.day = today
		clear(d.accounts)
	}
	return today
}

var _ func(context.Context, extensions.GuardRequest) (extensions.Verdict, error) = (*DailyLimit)(nil).Guard
