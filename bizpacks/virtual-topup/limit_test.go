package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/harness"
)

// step is one order.guard call of a scenario.
type step struct {
	event    string
	buyer    string // "" is the scenario's own buyer
	order    string
	amount   int64
	currency string    // "" is CNY
	at       time.Time // the clock, in scenarios with a clock
	want     outcome
	// reasonHas are substrings the denial's reason must contain.
	reasonHas []string
}

func (s step) request(buyer string) extensions.GuardRequest {
	if s.buyer != "" {
		buyer = s.buyer
	}
	currency := s.currency
	if currency == "" {
		currency = "CNY"
	}
	return extensions.GuardRequest{OrderID: s.order, BizCode: identity, BuyerID: buyer, Event: s.event,
		Total: extensions.Money{Amount: s.amount, Currency: currency}}
}

func run(t *testing.T, r *harness.Runner, buyer string, steps []step, setClock func(time.Time)) {
	t.Helper()
	for i, s := range steps {
		if setClock != nil {
			setClock(s.at)
		}
		v, err := harness.Call[extensions.Verdict](r, extensions.OrderGuard, identity, s.request(buyer))
		name := fmt.Sprintf("step %d (%s %s %d)", i+1, s.event, s.order, s.amount)
		check(t, name, v, err, s.want)
		for _, sub := range s.reasonHas {
			if !strings.Contains(v.Reason, sub) {
				t.Errorf("%s: reason %q does not contain %q", name, v.Reason, sub)
			}
		}
	}
}

// TestDailyLimit runs against the default limit of 50000 and the real
// clock, as the plugin binary does. Each scenario has its own buyer, so
// scenarios do not share holds.
func TestDailyLimit(t *testing.T) {
	place := func(order string, amount int64, want outcome) step {
		return step{event: "place", order: order, amount: amount, want: want}
	}
	on := func(event, order string, want outcome) step { return step{event: event, order: order, want: want} }
	const over = outcome("daily_limit_exceeded")
	cases := []struct {
		name  string
		steps []step
	}{
		{"exactly the limit in one order", []step{place("o1", 50000, allow)}},
		{"one unit over the limit in one order", []step{
			{event: "place", order: "o1", amount: 50001, want: over, reasonHas: []string{"50001", "50000", "CNY"}},
			place("o2", 50000, allow), // the denied order held nothing
		}},
		{"up to exactly the limit, then one unit over", []step{
			place("o1", 20000, allow), place("o2", 30000, allow),
			{event: "place", order: "o3", amount: 1, want: over, reasonHas: []string{"topped up 50000", "adds 1", "0 left"}},
		}},
		{"zero room left still allows a zero total", []step{place("o1", 50000, allow), place("o2", 0, allow)}},
		{"a denied order holds nothing", []step{
			place("o1", 40000, allow), place("o2", 20000, over), place("o3", 10000, allow), place("o4", 1, over),
		}},
		{"the same order asked twice counts once", []step{
			place("o1", 30000, allow), place("o1", 30000, allow), place("o2", 20000, allow), place("o3", 1, over),
		}},
		{"cancel frees the order's room", []step{
			place("o1", 50000, allow), place("o2", 1, over), on("cancel", "o1", allow),
			place("o2", 1, allow), place("o3", 49999, allow), place("o4", 1, over),
		}},
		{"payment_timeout frees the order's room", []step{
			place("o1", 50000, allow), on("payment_timeout", "o1", allow), place("o2", 50000, allow),
		}},
		{"payment_fail frees the order's room", []step{
			place("o1", 50000, allow), on("payment_fail", "o1", allow), place("o2", 50000, allow),
		}},
		{"a release counts once", []step{
			place("o1", 30000, allow), place("o2", 20000, allow),
			on("cancel", "o1", allow), on("cancel", "o1", allow), on("payment_timeout", "o1", allow),
			place("o3", 30000, allow), place("o4", 1, over),
		}},
		{"releasing an order that holds nothing allows and frees nothing", []step{
			place("o1", 50000, allow), on("cancel", "unknown", allow), place("o2", 1, over),
		}},
		{"a paid order keeps its hold", []step{
			place("o1", 50000, allow), on("pay", "o1", skip), place("o2", 1, over),
		}},
		{"other events skip", []step{
			on("pay", "o1", skip), on("approve", "o1", skip), on("ship", "o1", skip), on("receive", "o1", skip),
		}},
		{"accounts are separate", []step{
			place("o1", 50000, allow),
			{event: "place", buyer: "another account", order: "o2", amount: 50000, want: allow},
			place("o3", 1, over),
		}},
		{"another currency is denied and holds nothing", []step{
			{event: "place", order: "o1", amount: 100, currency: "USD", want: "currency_not_supported", reasonHas: []string{"USD", "CNY"}},
			place("o2", 50000, allow),
		}},
	}
	for _, r := range harness.Both(t, newBizpack(), ".") {
		t.Run(r.Name(), func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { run(t, r, "buyer "+c.name, c.steps, nil) })
			}
		})
	}
}

// TestGuardFailures: requests the platform never sends fail the call
// instead of being answered.
func TestGuardFailures(t *testing.T) {
	cases := []struct {
		name string
		req  extensions.GuardRequest
	}{
		{"place without an order id", extensions.GuardRequest{BuyerID: "b", Event: "place", Total: extensions.Money{Amount: 1, Currency: "CNY"}}},
		{"place without a buyer", extensions.GuardRequest{OrderID: "o", Event: "place", Total: extensions.Money{Amount: 1, Currency: "CNY"}}},
		{"cancel without a buyer", extensions.GuardRequest{OrderID: "o", Event: "cancel"}},
		{"negative total", extensions.GuardRequest{OrderID: "o", BuyerID: "b", Event: "place", Total: extensions.Money{Amount: -1, Currency: "CNY"}}},
	}
	for _, r := range harness.Both(t, newBizpack(), ".") {
		t.Run(r.Name(), func(t *testing.T) {
			for _, c := range cases {
				v, err := harness.Call[extensions.Verdict](r, extensions.OrderGuard, identity, c.req)
				var ce *harness.CallError
				if !errors.As(err, &ce) {
					t.Errorf("%s: %+v, %v; want a failed call", c.name, v, err)
				}
			}
		})
	}
	limit, err := NewDailyLimit(DefaultConfig(), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := limit.Guard(ctx, step{event: "place", order: "o", amount: 1}.request("b")); !errors.Is(err, context.Canceled) {
		t.Errorf("done context: err = %v, want context.Canceled", err)
	}
}

// clock is a settable clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func nowFixed() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) }

// TestDailyLimitDays moves an injected clock across UTC days. It runs in
// process only: the plugin binary reads the real clock, and the harness
// starts it with no environment to pass another one in.
func TestDailyLimitDays(t *testing.T) {
	shanghai := time.FixedZone("UTC+8", 8*3600)
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	const over = outcome("daily_limit_exceeded")
	cases := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"the day ends at UTC midnight", DefaultConfig(), []step{
			{event: "place", order: "o1", amount: 50000, at: utc("2024-05-01T00:00:00Z"), want: allow},
			{event: "place", order: "o2", amount: 1, at: utc("2024-05-01T23:59:59.999999999Z"), want: over, reasonHas: []string{"UTC 2024-05-01"}},
			{event: "place", order: "o3", amount: 50000, at: utc("2024-05-02T00:00:00Z"), want: allow},
			{event: "place", order: "o4", amount: 1, at: utc("2024-05-02T10:00:00Z"), want: over, reasonHas: []string{"UTC 2024-05-02"}},
		}},
		{"the day is the UTC day, not the local one", DefaultConfig(), []step{
			{event: "place", order: "o1", amount: 50000, at: time.Date(2024, 5, 1, 7, 59, 0, 0, shanghai), want: allow}, // 04-30 23:59 UTC
			{event: "place", order: "o2", amount: 50000, at: time.Date(2024, 5, 1, 8, 0, 0, 0, shanghai), want: allow},  // 05-01 00:00 UTC
			{event: "place", order: "o3", amount: 1, at: time.Date(2024, 5, 1, 23, 0, 0, 0, shanghai), want: over},      // 05-01 15:00 UTC
		}},
		{"yesterday's cancel frees nothing today", DefaultConfig(), []step{
			{event: "place", order: "o1", amount: 50000, at: utc("2024-05-01T22:00:00Z"), want: allow},
			{event: "place", order: "o2", amount: 50000, at: utc("2024-05-02T01:00:00Z"), want: allow},
			{event: "cancel", order: "o1", at: utc("2024-05-02T01:01:00Z"), want: allow},
			{event: "place", order: "o3", amount: 1, at: utc("2024-05-02T01:02:00Z"), want: over},
		}},
		{"an order asked again the next day is held on the new day", DefaultConfig(), []step{
			{event: "place", order: "o1", amount: 30000, at: utc("2024-05-01T23:59:00Z"), want: allow},
			{event: "place", order: "o1", amount: 30000, at: utc("2024-05-02T00:00:01Z"), want: allow},
			{event: "place", order: "o2", amount: 20001, at: utc("2024-05-02T00:00:02Z"), want: over},
		}},
		{"a configured limit", Config{DailyLimit: 100, Currency: "CNY"}, []step{
			{event: "place", order: "o1", amount: 100, at: utc("2024-05-01T00:00:00Z"), want: allow},
			{event: "place", order: "o2", amount: 1, at: utc("2024-05-01T00:00:00Z"), want: over, reasonHas: []string{"limit of 100"}},
		}},
		{"a configured currency", Config{DailyLimit: 100, Currency: "USD"}, []step{
			{event: "place", order: "o1", amount: 1, currency: "CNY", at: utc("2024-05-01T00:00:00Z"), want: "currency_not_supported"},
			{event: "place", order: "o2", amount: 100, currency: "USD", at: utc("2024-05-01T00:00:00Z"), want: allow},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := &clock{}
			r := harness.InProcess(t, newBizpack(withConfig(c.cfg), withClock(clk.Now)))
			run(t, r, "alice", c.steps, clk.Set)
		})
	}
}

// TestDailyLimitConcurrent fires many guards at once for one account: the
// holds never add up to more than the limit, and an order asked many times
// at once is held once.
func TestDailyLimitConcurrent(t *testing.T) {
	const (
		n      = 100
		amount = 1000 // 50000 / 1000: exactly 50 orders fit
	)
	for _, r := range harness.Both(t, newBizpack(), ".") {
		t.Run(r.Name(), func(t *testing.T) {
			r.Timeout = 10 * time.Second // many calls at once under -race; the deadline is not what is tested
			cases := []struct {
				name      string
				buyer     string
				order     func(i int) string
				amount    int64
				wantAllow int
				// after is the step that must then be denied: the room
				// the concurrent orders left.
				after step
			}{
				{"distinct orders", "concurrent-distinct", func(i int) string { return fmt.Sprintf("o%d", i) }, amount,
					DefaultDailyLimit / amount, step{event: "place", order: "last", amount: 1, want: "daily_limit_exceeded"}},
				{"one order asked many times", "concurrent-same", func(int) string { return "same" }, 30000,
					n, step{event: "place", order: "last", amount: 20001, want: "daily_limit_exceeded"}},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					verdicts := make([]extensions.Verdict, n)
					errs := make([]error, n)
					var wg sync.WaitGroup
					for i := range n {
						wg.Go(func() {
							verdicts[i], errs[i] = harness.Call[extensions.Verdict](r, extensions.OrderGuard, identity,
								step{event: "place", order: c.order(i), amount: c.amount}.request(c.buyer))
						})
					}
					wg.Wait()
					allowed := 0
					for i := range n {
						switch {
						case errs[i] != nil:
							t.Fatalf("call %d: %v", i, errs[i])
						case verdicts[i].Allow:
							allowed++
						case verdicts[i].Code != "daily_limit_exceeded":
							t.Errorf("call %d: %+v, want allow or daily_limit_exceeded", i, verdicts[i])
						}
					}
					if allowed != c.wantAllow {
						t.Errorf("allowed %d of %d, want %d", allowed, n, c.wantAllow)
					}
					run(t, r, c.buyer, []step{c.after}, nil)
				})
			}
		})
	}
}
