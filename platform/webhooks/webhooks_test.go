package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/outbox"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

func TestRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ip      string
		refused bool
	}{
		{"127.0.0.1", true}, {"::1", true}, {"10.0.0.1", true}, {"172.16.5.4", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"fe80::1", true}, {"0.0.0.0", true}, {"::", true}, {"224.0.0.1", true},
		{"ff02::1", true}, {"100.64.0.1", true}, {"fd00::1", true}, {"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true},
		{"255.255.255.255", true}, {"64:ff9b::7f00:1", true},
		{"93.184.215.14", false}, {"8.8.8.8", false}, {"2606:4700:4700::1111", false}, {"::ffff:8.8.8.8", false},
	} {
		if got := Refused(netip.MustParseAddr(tc.ip)); got != tc.refused {
			t.Errorf("Refused(%s) = %v; want %v", tc.ip, got, tc.refused)
		}
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://93.184.215.14/hook", false, true},
		{"http://93.184.215.14:8080/hook?x=1", false, true},
		{"ftp://93.184.215.14/hook", false, false},
		{"//93.184.215.14/hook", false, false},
		{"https:///hook", false, false},
		{"https://user:pw@93.184.215.14/hook", false, false},
		{"https://93.184.215.14/hook#frag", false, false},
		{"http://127.0.0.1:8080/hook", false, false},
		{"http://127.0.0.1:8080/hook", true, true},
		{"http://[::1]/hook", false, false},
		{"http://169.254.169.254/latest/meta-data", false, false},
		{"http://localhost/hook", false, false},
		{"http://[::1", false, false},
		{"not a url", false, false},
	} {
		err := Guard{AllowPrivate: tc.allowPrivate}.CheckURL(t.Context(), tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q, allowPrivate=%v) = %v; want ok=%v", tc.url, tc.allowPrivate, err, tc.ok)
		}
	}
}

// The delivery client checks the address it dials, and follows no redirect.
func TestClientGuardsTheDialledAddress(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	// A name that resolves to loopback passes no registration check here:
	// the dial itself is refused.
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	_, err := Guard{}.Client(10 * time.Second).Get("http://localhost:" + port + "/")
	if !errors.Is(err, ErrAddressRefused) {
		t.Fatalf("a loopback dial: %v; want ErrAddressRefused", err)
	}
	resp, err := Guard{AllowPrivate: true}.Client(10 * time.Second).Get(srv.URL + "/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("redirect answered %d; want the 302 itself", resp.StatusCode)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func event(id string) outbox.Event {
	return outbox.Event{ID: id, Topic: "order.placed", AggregateID: "o-" + id, BizCode: "retail", Version: 1,
		Payload: json.RawMessage(`{"n":1}`), CreatedAt: time.Now()}
}

// Two processes claiming from one database never take the same delivery.
func TestClaimsAreExclusive(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		a := New(st, Options{Guard: Guard{AllowPrivate: true}, Owner: "a"})
		b := New(st, Options{Guard: Guard{AllowPrivate: true}, Owner: "b"})
		if err := a.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		ep, _, err := a.Create(t.Context(), EndpointSpec{URL: "http://127.0.0.1:9/x", EventTypes: []string{"*"}, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		const n = 40
		for i := range n {
			e := event(fmt.Sprint("ev-", i))
			if err := a.Handle(t.Context(), e); err != nil {
				t.Fatal(err)
			}
			if err := b.Handle(t.Context(), e); err != nil { // the relay of another server: no second row
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		got := map[string]string{}
		var wg sync.WaitGroup
		for _, s := range []*Service{a, b} {
			wg.Go(func() {
				for range 20 {
					ds, err := s.claim(context.Background(), ep.ID, 3)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, d := range ds {
						if prev, dup := got[d.ID]; dup {
							t.Errorf("delivery %s claimed by %s and %s", d.ID, prev, s.o.Owner)
						}
						got[d.ID] = s.o.Owner
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(got) != n {
			t.Fatalf("%d deliveries claimed; want %d", len(got), n)
		}
	})
}

// An endpoint that keeps failing is disabled, with an audit entry, and its
// deliveries fail once the schedule runs out.
func TestFailingEndpointIsDisabled(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens: every attempt is refused
		svc := New(st, Options{Guard: Guard{AllowPrivate: true}, Schedule: []time.Duration{time.Millisecond, time.Millisecond},
			Poll: 10 * time.Millisecond, DisableAfter: time.Millisecond})
		if err := svc.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		ep, _, err := svc.Create(t.Context(), EndpointSpec{URL: "http://" + addr + "/x", EventTypes: []string{"order.placed"}, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Handle(t.Context(), event("ev-1")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { svc.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		waitUntil(t, "the endpoint was not disabled", func() bool {
			v, err := svc.Get(t.Context(), ep.ID)
			return err == nil && !v.Enabled && v.DisabledReason != ""
		})
		entries, err := st.ListAudit(t.Context(), store.AuditQuery{TargetType: AuditTargetType, TargetID: ep.ID})
		if err != nil || len(entries) != 1 || entries[0].Verb != "disable" || entries[0].Actor != systemActor {
			t.Fatalf("audit %+v, %v", entries, err)
		}
		ds, _, err := svc.Deliveries(t.Context(), ep.ID, "", Page{Limit: 10})
		if err != nil || len(ds) != 1 || ds[0].Attempts < 2 || ds[0].LastStatus != 0 || ds[0].LastError == "" {
			t.Fatalf("deliveries %+v, %v", ds, err)
		}
		// A disabled endpoint receives no new deliveries.
		if err := svc.Handle(t.Context(), event("ev-2")); err != nil {
			t.Fatal(err)
		}
		if ds, _, _ := svc.Deliveries(t.Context(), ep.ID, "", Page{Limit: 10}); len(ds) != 1 {
			t.Fatalf("%d deliveries after disabling", len(ds))
		}
	})
}

func TestMatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		types, ids, typ, biz string
		want                 bool
	}{
		{"*", "", "order.placed", "retail", true},
		{"order.placed", "", "order.placed", "", true},
		{"order.placed", "", "payment.refunded", "retail", false},
		{"*", "virtual", "order.placed", "virtual.topup", true},
		{"*", "virtual", "order.placed", "virtualx", false},
		{"*", "retail.vip", "order.placed", "retail", false},
		{"*", "retail,b2b", "order.placed", "b2b", true},
	} {
		if got := matches(Endpoint{EventTypes: tc.types, Identities: tc.ids}, tc.typ, tc.biz); got != tc.want {
			t.Errorf("matches(%q, %q; %s %s) = %v", tc.types, tc.ids, tc.typ, tc.biz, got)
		}
	}
}

func TestBackoffWidensWithJitter(t *testing.T) {
	t.Parallel()
	s := New(nil, Options{})
	total := time.Duration(0)
	for n := 1; ; n++ {
		d, ok := s.backoff(n)
		if !ok {
			if n != len(DefaultSchedule)+1 {
				t.Fatalf("the schedule ran out after %d retries", n-1)
			}
			break
		}
		base := DefaultSchedule[n-1]
		if d < base*8/10 || d > base*12/10 {
			t.Fatalf("retry %d waits %s; base %s", n, d, base)
		}
		total += base
	}
	if total < 24*time.Hour {
		t.Fatalf("the default schedule spans %s; want at least 24h", total)
	}
}
