package bizpackhost

import (
	"sync"
	"time"
)

// breaker is a circuit breaker over consecutive failed calls. Closed, it
// lets every call through; after threshold failures in a row it opens and
// refuses calls for a cooldown that doubles with each opening in a row (up
// to maxCooldown); then it lets one trial batch through (half-open), which
// closes it on success and opens it again on failure.
type breaker struct {
	threshold   int
	minCooldown time.Duration
	maxCooldown time.Duration

	mu       sync.Mutex
	failures int
	state    breakerState
	openedAt time.Time
	cooldown time.Duration
	trial    bool // a half-open trial is under way
}

type breakerState uint8

const (
	closed breakerState = iota
	open
	halfOpen
)

func (s breakerState) String() string {
	switch s {
	case open:
		return "open"
	case halfOpen:
		return "half-open"
	}
	return "closed"
}

func newBreaker(threshold int, minCooldown, maxCooldown time.Duration) *breaker {
	return &breaker{threshold: threshold, minCooldown: minCooldown, maxCooldown: maxCooldown}
}

// allow reports whether a call may go through now. In half-open state only
// one caller gets through until it reports.
func (b *breaker) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case closed:
		return true
	case open:
		if now.Sub(b.openedAt) < b.cooldown {
			return false
		}
		b.state, b.trial = halfOpen, true
		return true
	default: // half-open
		if b.trial {
			return false
		}
		b.trial = true
		return true
	}
}

// report records the outcome of a call that allow let through. It returns
// true when this report opened the breaker.
func (b *breaker) report(ok bool, now time.Time) (opened bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		b.failures, b.state, b.trial, b.cooldown = 0, closed, false, 0
		return false
	}
	b.failures++
	switch {
	case b.state == halfOpen:
		b.trial = false
		b.cooldown = min(b.cooldown*2, b.maxCooldown)
	case b.state == closed && b.failures >= b.threshold:
		b.cooldown = b.minCooldown
	default:
		return false
	}
	b.state, b.openedAt = open, now
	return true
}

// current is the breaker's state.
func (b *breaker) current() breakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}
