package api

import (
	"math"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// RateLimits bound how fast one caller may send requests, in memory of one
// server (each node of a cluster counts its own). A zero field turns its
// limit off; DefaultRateLimits are what tmfd serves with.
type RateLimits struct {
	// PrincipalRate is the requests a second an authenticated principal may
	// send, with bursts of PrincipalBurst; admins are not limited.
	PrincipalRate  float64
	PrincipalBurst int
	// AddressRate and AddressBurst bound requests without credentials
	// (health, readiness, metrics, and 401s) per client address.
	AddressRate  float64
	AddressBurst int
	// AuthFailures failed authentications (a token that is not valid) from
	// one address within AuthFailureWindow make every further failure from
	// it a 429 for AuthBlock; a valid token keeps working.
	AuthFailures      int
	AuthFailureWindow time.Duration
	AuthBlock         time.Duration
}

// DefaultRateLimits: generous for a busy real client (50 requests a
// second, bursts of 100), tight for guessing tokens (20 failures a minute
// block the address for 5 minutes).
var DefaultRateLimits = RateLimits{PrincipalRate: 50, PrincipalBurst: 100, AddressRate: 20, AddressBurst: 40,
	AuthFailures: 20, AuthFailureWindow: time.Minute, AuthBlock: 5 * time.Minute}

// maxTracked bounds the callers the limiters remember; past it, the ones
// at rest (a full bucket, no failures in force) are forgotten.
const maxTracked = 100_000

// buckets is a token bucket per key.
type buckets struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newBuckets(rate float64, burst int, now func() time.Time) *buckets {
	if rate <= 0 {
		return nil
	}
	return &buckets{rate: rate, burst: math.Max(1, float64(burst)), now: now, m: map[string]*bucket{}}
}

// take spends a token of key; when none is left it answers how long until
// one is.
func (b *buckets) take(key string) (bool, time.Duration) {
	if b == nil {
		return true, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	k, ok := b.m[key]
	if !ok {
		if len(b.m) >= maxTracked {
			b.sweep(now)
		}
		k = &bucket{tokens: b.burst, at: now}
		b.m[key] = k
	}
	k.tokens = math.Min(b.burst, k.tokens+now.Sub(k.at).Seconds()*b.rate)
	k.at = now
	if k.tokens >= 1 {
		k.tokens--
		return true, 0
	}
	return false, time.Duration((1 - k.tokens) / b.rate * float64(time.Second))
}

func (b *buckets) sweep(now time.Time) {
	for key, k := range b.m {
		if k.tokens+now.Sub(k.at).Seconds()*b.rate >= b.burst {
			delete(b.m, key)
		}
	}
}

// authFailures counts failed authentications per address.
type authFailures struct {
	limit         int
	window, block time.Duration
	now           func() time.Time

	mu sync.Mutex
	m  map[string]*failures
}

type failures struct {
	count        int
	since, until time.Time
}

func newAuthFailures(l RateLimits, now func() time.Time) *authFailures {
	if l.AuthFailures <= 0 {
		return nil
	}
	a := &authFailures{limit: l.AuthFailures, window: l.AuthFailureWindow, block: l.AuthBlock, now: now, m: map[string]*failures{}}
	if a.window <= 0 {
		a.window = time.Minute
	}
	if a.block <= 0 {
		a.block = 5 * time.Minute
	}
	return a
}

// fail records a failure of addr; it answers whether addr is blocked now
// and for how long still.
func (a *authFailures) fail(addr string) (bool, time.Duration) {
	if a == nil {
		return false, 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	f, ok := a.m[addr]
	if !ok {
		if len(a.m) >= maxTracked {
			for k, f := range a.m {
				if now.After(f.until) && now.Sub(f.since) > a.window {
					delete(a.m, k)
				}
			}
		}
		f = &failures{since: now}
		a.m[addr] = f
	}
	if now.Before(f.until) {
		return true, f.until.Sub(now)
	}
	if now.Sub(f.since) > a.window {
		f.count, f.since = 0, now
	}
	f.count++
	if f.count > a.limit {
		f.until, f.count, f.since = now.Add(a.block), 0, now
		return true, a.block
	}
	return false, 0
}

// limiter holds the server's rate limits.
type limiter struct {
	principals *buckets
	addresses  *buckets
	auth       *authFailures
}

func newLimiter(l RateLimits, now func() time.Time) *limiter {
	if now == nil {
		now = time.Now
	}
	return &limiter{principals: newBuckets(l.PrincipalRate, l.PrincipalBurst, now),
		addresses: newBuckets(l.AddressRate, l.AddressBurst, now), auth: newAuthFailures(l, now)}
}

// clientAddress is the address the connection comes from: never a header
// the client writes (X-Forwarded-For), which would let it pick a fresh
// address for every request.
func clientAddress(c echo.Context) string {
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return host
}

// rateLimited is the 429 answer, with Retry-After in whole seconds.
func rateLimited(c echo.Context, wait time.Duration, detail string) error {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	c.Response().Header().Set(echo.HeaderRetryAfter, strconv.Itoa(secs))
	return problem(CodeRateLimited, map[string]any{"retryAfter": secs}, "%s; retry after %d s", detail, secs)
}

// limitAnonymous limits requests without credentials per client address.
func (s *Server) limitAnonymous(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Header.Get(echo.HeaderAuthorization) == "" {
			if ok, wait := s.rate.addresses.take(clientAddress(c)); !ok {
				return rateLimited(c, wait, "too many requests without credentials from your address")
			}
		}
		return next(c)
	}
}

// limitPrincipal limits an authenticated principal's requests; admins are
// not limited.
func (s *Server) limitPrincipal(c echo.Context, p *principal) error {
	for _, r := range p.Roles {
		if r == RoleAdmin {
			return nil
		}
	}
	if ok, wait := s.rate.principals.take(p.ID); !ok {
		return rateLimited(c, wait, "too many requests from "+p.ID)
	}
	return nil
}

// authFailed records a failed authentication: once the caller's address
// failed too often, its failures are answered 429, not 401.
func (s *Server) authFailed(c echo.Context, err error) error {
	if blocked, wait := s.rate.auth.fail(clientAddress(c)); blocked {
		s.log.WarnContext(c.Request().Context(), "authentication failures throttled", "address", clientAddress(c))
		return rateLimited(c, wait, "too many failed authentications from your address")
	}
	return err
}
