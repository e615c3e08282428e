package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/bizpacks/virtual-topup/supplier"
	"github.com/tmf-platform/tmf/extensions"
)

const sandboxSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// The bizpack's dispatch and query against the sandbox supplier, one
// phone number per behaviour; the callbacks land on a recording server.
func TestDispatchAgainstTheSandbox(t *testing.T) {
	var mu sync.Mutex
	var callbacks []supplier.Callback
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var cb supplier.Callback
		_ = json.Unmarshal(body, &cb)
		mu.Lock()
		callbacks = append(callbacks, cb)
		mu.Unlock()
	}))
	defer platform.Close()
	sb := supplier.NewSandbox("topup-sandbox", sandboxSecret, platform.URL)
	sb.Delay, sb.LateAfter = 10*time.Millisecond, 20*time.Millisecond
	srv := httptest.NewServer(sb)
	defer srv.Close()
	sup := &Supplier{Name: "topup-sandbox", URL: srv.URL, Client: srv.Client()}
	cases := []struct {
		phone         string
		dispatch      []string // answers of successive dispatches
		query         string
		callbacks     int
		callbackState string
	}{
		{"+8613800138001", []string{"fulfilled", "fulfilled"}, "fulfilled", 0, ""},
		{"+8613800138002", []string{"pending"}, "", 1, "fulfilled"},
		{"+8613800138003", []string{"pending"}, "", 2, "fulfilled"},
		{"+8613800138004", []string{"rejected", "rejected"}, "rejected", 0, ""},
		{"+8613800138005", []string{"pending"}, "", 1, "failed"},
		{"+8613800138006", []string{"pending"}, "fulfilled", 0, ""},
		{"+8613800138007", []string{"pending"}, "", 1, "fulfilled"},
		{"+8613800138008", []string{"transient", "transient", "fulfilled", "fulfilled"}, "fulfilled", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.phone, func(t *testing.T) {
			id := "o-" + c.phone[len(c.phone)-1:]
			req := extensions.FulfilmentRequest{OrderID: id, Attributes: map[string]any{"phone": c.phone},
				Total: extensions.Money{Amount: 5000, Currency: "CNY"}}
			for n, want := range c.dispatch {
				a, err := sup.Dispatch(t.Context(), req)
				if err != nil || a.Outcome != want {
					t.Fatalf("dispatch %d: %+v, %v; want %s", n+1, a, err, want)
				}
			}
			if c.query != "" {
				if a, err := sup.Query(t.Context(), req); err != nil || a.Outcome != c.query {
					t.Fatalf("query: %+v, %v; want %s", a, err, c.query)
				}
			}
		})
	}
	if a, err := sup.Query(t.Context(), extensions.FulfilmentRequest{OrderID: "o-unknown"}); err != nil || a.Outcome != "pending" {
		t.Fatalf("query of an unknown top-up: %+v, %v", a, err)
	}
	// Five callbacks are due (digits 2, 3 twice, 5, 7); poll generously.
	for deadline := time.Now().Add(30 * time.Second); len(sb.Sent()) < 5 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	sb.Close()
	mu.Lock()
	defer mu.Unlock()
	got := map[string][]string{}
	for _, cb := range callbacks {
		got[cb.OrderID] = append(got[cb.OrderID], cb.Outcome)
	}
	for _, c := range cases {
		id := "o-" + c.phone[len(c.phone)-1:]
		if len(got[id]) != c.callbacks || c.callbacks > 0 && got[id][0] != c.callbackState {
			t.Errorf("%s: callbacks %v, want %d × %s", c.phone, got[id], c.callbacks, c.callbackState)
		}
	}
	// Every top-up was made once, whatever the repeats: 8 numbers.
	if n := sb.Requests(); n != 8 {
		t.Errorf("the supplier made %d top-ups, want 8", n)
	}
	down := &Supplier{Name: "topup-sandbox", URL: "http://127.0.0.1:1", Client: &http.Client{Timeout: time.Second}}
	if a, err := down.Dispatch(t.Context(), extensions.FulfilmentRequest{OrderID: "x", Attributes: map[string]any{"phone": "+8613800138001"}}); err != nil || a.Outcome != "transient" {
		t.Fatalf("an unreachable supplier: %+v, %v", a, err)
	}
}
