package payment_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/domains/payment"
)

// outcome renders a processor call's error as the testdata writes it:
// "ok", "decline:CODE" or "processor:CODE".
func outcome(err error) string {
	var d *payment.DeclineError
	var p *payment.ProcessorError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &d):
		return "decline:" + d.Code
	case errors.As(err, &p):
		return "processor:" + p.Code
	}
	return "error:" + err.Error()
}

func loadJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestSandboxCards(t *testing.T) {
	t.Parallel()
	var cases []struct {
		Name      string `json:"name"`
		Number    string `json:"number"`
		Brand     string `json:"brand"`
		Last4     string `json:"last4"`
		Invalid   string `json:"invalid"`
		Authorize string `json:"authorize"`
		Capture   string `json:"capture"`
	}
	loadJSON(t, "testdata/cards.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			info, err := payment.ParseCard(tc.Number)
			var invalid *payment.InvalidCardError
			if tc.Invalid != "" {
				if !errors.As(err, &invalid) || invalid.Reason != tc.Invalid {
					t.Fatalf("ParseCard(%q) = %v, %v; want invalid: %s", tc.Number, info, err, tc.Invalid)
				}
			} else if err != nil || info != (payment.CardInfo{Brand: tc.Brand, Last4: tc.Last4}) {
				t.Fatalf("ParseCard(%q) = %+v, %v; want %s %s", tc.Number, info, err, tc.Brand, tc.Last4)
			}

			sb := sandbox(t)
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			if tc.Authorize != "processor:timeout" {
				ctx = t.Context()
			}
			req := payment.AuthorizeRequest{Key: "k", Card: payment.Card{Number: tc.Number}, Amount: 1000, Currency: "CNY"}
			auth, err := sb.Authorize(ctx, req)
			if got := outcome(err); got != tc.Authorize {
				t.Fatalf("authorize: %s, want %s", got, tc.Authorize)
			}
			if tc.Authorize == "processor:timeout" && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("timeout does not wrap the context's error: %v", err)
			}
			// The same key answers the same, declines included, and does nothing more.
			again, err2 := sb.Authorize(ctx, req)
			if tc.Authorize == "ok" || strings.HasPrefix(tc.Authorize, "decline:") {
				if again != auth || outcome(err2) != tc.Authorize {
					t.Errorf("replay = %+v %v, want %+v %s", again, err2, auth, tc.Authorize)
				}
			}
			st := sb.Stats()
			if st.Calls[payment.OpAuthorize] != 2 {
				t.Errorf("authorize calls = %d, want 2", st.Calls[payment.OpAuthorize])
			}
			if tc.Authorize != "ok" {
				if st.Authorizations != 0 || st.Authorized != 0 {
					t.Errorf("a failed authorization held money: %+v", st)
				}
				return
			}
			if st.Authorizations != 1 || st.Authorized != 1000 ||
				auth.Amount != 1000 || auth.Currency != "CNY" || auth.Card != info || auth.ID == "" {
				t.Errorf("authorization %+v, stats %+v", auth, st)
			}
			capture, err := sb.Capture(t.Context(), payment.CaptureRequest{Key: "c", AuthorizationID: auth.ID, Amount: 1000})
			if got := outcome(err); got != tc.Capture {
				t.Fatalf("capture: %s, want %s", got, tc.Capture)
			}
			want := int64(0)
			if tc.Capture == "ok" {
				want = 1000
				if capture.AuthorizationID != auth.ID || capture.Amount != 1000 || capture.Currency != "CNY" {
					t.Errorf("capture = %+v", capture)
				}
			}
			if st := sb.Stats(); st.Captured != want {
				t.Errorf("captured %d, want %d", st.Captured, want)
			}
		})
	}
}

func TestSandboxRules(t *testing.T) {
	t.Parallel()
	var cases []struct {
		Name  string         `json:"name"`
		Rules []payment.Rule `json:"rules"`
		Calls []struct {
			Op       payment.Op `json:"op"`
			Key      string     `json:"key"`
			Amount   int64      `json:"amount"`
			Card     string     `json:"card"`
			Currency string     `json:"currency"`
			Want     string     `json:"want"`
		} `json:"calls"`
		Authorizations int   `json:"authorizations"`
		Captured       int64 `json:"captured"`
		Refunded       int64 `json:"refunded"`
	}
	loadJSON(t, "testdata/rules.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			sb := sandbox(t)
			for _, r := range tc.Rules {
				sb.AddRule(r)
			}
			var authID, captureID string
			for i, c := range tc.Calls {
				var err error
				switch c.Op {
				case payment.OpAuthorize:
					card := c.Card
					if card == "" {
						card = payment.CardApproved
					}
					currency := c.Currency
					if currency == "" {
						currency = "CNY"
					}
					var a payment.Authorization
					a, err = sb.Authorize(t.Context(), payment.AuthorizeRequest{Key: c.Key, Card: payment.Card{Number: card}, Amount: c.Amount, Currency: currency})
					if err == nil {
						authID = a.ID
					}
				case payment.OpCapture:
					var cp payment.Capture
					cp, err = sb.Capture(t.Context(), payment.CaptureRequest{Key: c.Key, AuthorizationID: authID, Amount: c.Amount})
					if err == nil {
						captureID = cp.ID
					}
				case payment.OpRefund:
					_, err = sb.Refund(t.Context(), payment.RefundRequest{Key: c.Key, CaptureID: captureID, Amount: c.Amount})
				default:
					t.Fatalf("call %d: unknown op %q", i, c.Op)
				}
				if got := outcome(err); got != c.Want {
					t.Errorf("call %d (%s %s %d): %s, want %s", i, c.Op, c.Key, c.Amount, got, c.Want)
				}
			}
			st := sb.Stats()
			if st.Authorizations != tc.Authorizations || st.Captured != tc.Captured || st.Refunded != tc.Refunded {
				t.Errorf("authorizations %d captured %d refunded %d, want %d %d %d",
					st.Authorizations, st.Captured, st.Refunded, tc.Authorizations, tc.Captured, tc.Refunded)
			}
		})
	}
}

// TestSandboxConcurrentKey races N calls with one key: exactly one takes
// effect; the others replay it or are told it is in progress.
func TestSandboxConcurrentKey(t *testing.T) {
	t.Parallel()
	sb := sandbox(t)
	sb.SetLatency(5 * time.Millisecond)
	a, err := sb.Authorize(t.Context(), payment.AuthorizeRequest{Key: "a", Card: payment.Card{Number: payment.CardApproved}, Amount: 40, Currency: "CNY"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	results := make([]string, n)
	ids := make([]string, n)
	for i := range n {
		wg.Go(func() {
			c, err := sb.Capture(t.Context(), payment.CaptureRequest{Key: "c", AuthorizationID: a.ID, Amount: 40})
			results[i], ids[i] = outcome(err), c.ID
		})
	}
	wg.Wait()
	ok := 0
	for i, r := range results {
		switch r {
		case "ok":
			ok++
			if ids[i] != ids[slices.Index(results, "ok")] {
				t.Errorf("captures differ: %s", ids[i])
			}
		case "processor:request_in_progress":
		default:
			t.Errorf("call %d: %s", i, r)
		}
	}
	if st := sb.Stats(); ok == 0 || st.Captures != 1 || st.Captured != 40 {
		t.Errorf("%d ok, stats %+v", ok, st)
	}
}

func TestCardIsMasked(t *testing.T) {
	t.Parallel()
	c := payment.Card{Number: payment.CardApproved}
	raw, err := json.Marshal(struct{ Card payment.Card }{c})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", struct{ C payment.Card }{c}),
		fmt.Sprintf("%#v", c), string(raw)} {
		if strings.Contains(s, "424242424242") || !strings.Contains(s, "4242") {
			t.Errorf("card printed as %q", s)
		}
	}
	if got := c.String(); got != "visa ••••4242" {
		t.Errorf("String() = %q", got)
	}
}
