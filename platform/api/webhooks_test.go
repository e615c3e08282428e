package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"

	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/platform/api"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/outbox"
	"github.com/tmf-platform/tmf/platform/store"
	"github.com/tmf-platform/tmf/platform/store/storetest"
	"github.com/tmf-platform/tmf/platform/webhooks"
)

// webhookEnv is an API env whose server registers webhooks with svc.
func webhookEnv(t *testing.T, st *store.Store, o webhooks.Options) (*env, *webhooks.Service) {
	t.Helper()
	var k *kernel.Kernel
	o.Identities = func() []string {
		var out []string
		for _, c := range k.Plans().Identities() {
			out = append(out, string(c))
		}
		return out
	}
	svc := webhooks.New(st, o)
	if err := svc.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, st, func(c *api.Config) { c.Webhooks = svc })
	k = e.k
	return e, svc
}

// receiver is a webhook receiver on loopback that answers every other
// request 500 and can be taken down (its listener closed) and up again on
// the same address.
type receiver struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	srv  *http.Server
	n    int
	got  []received
}

type received struct {
	header http.Header
	body   []byte
	status int
	answer string
}

func newReceiver(t *testing.T) *receiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, addr: ln.Addr().String()}
	r.serve(ln)
	t.Cleanup(r.down)
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.n++
	status, answer := http.StatusOK, "ok "+strconv.Itoa(r.n)
	if r.n%2 == 0 {
		status, answer = http.StatusInternalServerError, "fail "+strconv.Itoa(r.n)
	}
	r.got = append(r.got, received{header: req.Header.Clone(), body: body, status: status, answer: answer})
	r.mu.Unlock()
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

func (r *receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (r *receiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (r *receiver) up() {
	var ln net.Listener
	var err error
	// The port was ours a moment ago; give the kernel time to release it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ln, err = net.Listen("tcp", r.addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("receiver back on %s: %v", r.addr, err)
	}
	r.serve(ln)
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fastSchedule retries within seconds, often enough that a receiver
// failing half of its answers is all but sure to get every event.
func fastSchedule() []time.Duration {
	s := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond}
	for range 60 {
		s = append(s, 200*time.Millisecond)
	}
	return s
}

// The acceptance test of issue 16's webhooks: a receiver that is down for
// a while and then fails half of its answers receives every event of the
// orders placed, every request's signature verifies (with Verify and with
// an HMAC computed here), and the delivery log read through the API is
// what the receiver saw.
func TestWebhookDeliveryAcceptance(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e, svc := webhookEnv(t, st, webhooks.Options{Guard: webhooks.Guard{AllowPrivate: true}, Schedule: fastSchedule(),
			Poll: 20 * time.Millisecond, Timeout: 10 * time.Second, Concurrency: 2})
		e.sku("mug", 1200, "kitchen", false, 1000)
		alice := e.principal("alice", "buyer")
		rcv := newReceiver(t)
		rcv.down()

		r := e.do("POST", "/v1/admin/webhooks", adminToken, map[string]any{"url": "http://" + rcv.addr + "/hook",
			"eventTypes": []string{"*"}, "description": "acceptance"})
		expect(t, r, 201, "")
		created := decodeJSON[api.WebhookCreated](t, r)
		if !strings.HasPrefix(created.Secret, webhooks.SecretPrefix) {
			t.Fatalf("secret %q", created.Secret)
		}
		if strings.Contains(e.logs.String(), created.Secret) {
			t.Fatal("the secret is in the log")
		}
		expect(t, e.do("GET", "/v1/admin/webhooks/"+created.ID, adminToken, nil), 200, "")
		if raw := e.do("GET", "/v1/admin/webhooks/"+created.ID, adminToken, nil).raw; strings.Contains(string(raw), created.Secret) {
			t.Fatal("GET shows the secret")
		}

		relay := outbox.New(st, outbox.Options{Interval: 20 * time.Millisecond})
		relay.Subscribe("webhooks", "", svc.Handle)
		ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
		var wg sync.WaitGroup
		wg.Go(func() { relay.Run(ctx) })
		wg.Go(func() { svc.Run(ctx) })
		t.Cleanup(func() { cancel(); wg.Wait() })

		const orders = 8
		for i := range orders {
			e.place(alice, fmt.Sprintf("wh-%d", i), map[string]any{"items": []map[string]any{{"sku": "mug", "quantity": 1}},
				"shippingAddress": map[string]any{"region": "CN-31", "city": "Shanghai", "line1": "1 Bund"}})
		}
		// Down: attempts fail without an answer until the receiver is back.
		refused := func() int {
			n := 0
			for _, a := range attemptsOf(t, e, created.ID) {
				if a.StatusCode == 0 {
					n++
				}
			}
			return n
		}
		waitFor(t, 60*time.Second, "no attempt met the closed listener", func() bool { return refused() >= 3 })
		rcv.up()

		var want []string
		if err := st.DB(t.Context()).Model(&store.OutboxEvent{}).Order("id").Pluck("id", &want).Error; err != nil {
			t.Fatal(err)
		}
		if len(want) < orders {
			t.Fatalf("%d events for %d orders", len(want), orders)
		}
		waitFor(t, 90*time.Second, "not every delivery succeeded", func() bool {
			r := e.do("GET", "/v1/admin/webhooks/"+created.ID+"/deliveries?state=succeeded&limit=100", adminToken, nil)
			return len(decodeJSON[api.WebhookDeliveries](t, r).Items) == len(want)
		})
		cancel()
		wg.Wait()

		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(created.Secret, "whsec_"))
		if err != nil {
			t.Fatal(err)
		}
		var delivered []string
		seen := map[string]int{} // "event status answer" → count, as the receiver saw it
		for _, q := range rcv.requests() {
			id := q.header.Get("webhook-id")
			if err := webhooks.Verify(created.Secret, q.header, q.body, time.Hour); err != nil {
				t.Errorf("delivery %s does not verify: %v", id, err)
			}
			// The specification's algorithm, computed here.
			m := hmac.New(sha256.New, key)
			m.Write([]byte(id + "." + q.header.Get("webhook-timestamp") + "."))
			m.Write(q.body)
			if want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)); q.header.Get("webhook-signature") != want {
				t.Errorf("delivery %s: signature %q; HMAC-SHA256 gives %q", id, q.header.Get("webhook-signature"), want)
			}
			var ce struct {
				ID, Type, SpecVersion, Subject string
			}
			if err := json.Unmarshal(q.body, &ce); err != nil || ce.ID != id || ce.SpecVersion != "1.0" || ce.Type == "" || ce.Subject == "" {
				t.Errorf("delivery %s: body %s is not its CloudEvent (%v)", id, q.body, err)
			}
			if q.status == 200 {
				delivered = append(delivered, id)
			}
			seen[fmt.Sprintf("%s %d %s", id, q.status, q.answer)]++
		}
		slices.Sort(delivered)
		delivered = slices.Compact(delivered)
		if !slices.Equal(delivered, want) {
			t.Fatalf("received %d events %v; committed %d %v", len(delivered), delivered, len(want), want)
		}
		// The log: one entry per request the receiver answered, with its
		// status and answer, and the attempts that met the closed listener.
		logged := map[string]int{}
		noAnswer := 0
		for _, a := range attemptsOf(t, e, created.ID) {
			if a.StatusCode == 0 {
				noAnswer++
				if a.Error == "" {
					t.Errorf("attempt %d has neither status nor error", a.ID)
				}
				continue
			}
			logged[fmt.Sprintf("%s %d %s", a.EventID, a.StatusCode, a.Response)]++
		}
		if fmt.Sprint(logged) != fmt.Sprint(seen) {
			t.Fatalf("the delivery log\n%v\nthe receiver saw\n%v", logged, seen)
		}
		if noAnswer < 3 {
			t.Fatalf("%d attempts without an answer logged", noAnswer)
		}
		if n, _, err := svc.Backlog(t.Context()); err != nil || n != 0 {
			t.Fatalf("backlog %d, %v", n, err)
		}
	})
}

// attemptsOf reads an endpoint's whole delivery log through the API, page
// by page.
func attemptsOf(t *testing.T, e *env, id string) []webhooks.AttemptView {
	t.Helper()
	var out []webhooks.AttemptView
	cursor := ""
	for {
		path := "/v1/admin/webhooks/" + id + "/attempts?limit=50"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := e.do("GET", path, adminToken, nil)
		expect(t, r, 200, "")
		page := decodeJSON[api.WebhookAttempts](t, r)
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

// Every webhook operation of the spec, through every status it documents
// (500 and the shared 429 and 503 aside), answered live and held to the
// spec; with the refusals naming their field.
func TestWebhookEndpointsMatchTheSpec(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	e, _ := webhookEnv(t, st, webhooks.Options{MaxEndpoints: 2})
	alice := e.principal("alice", "buyer")
	base := "/v1/admin/webhooks"
	good := map[string]any{"url": "https://93.184.215.14/hook", "eventTypes": []string{"order.placed"}, "identities": []string{"retail"}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for key, val := range good {
			m[key] = val
		}
		m[k] = v
		return m
	}
	r := e.do("POST", base, adminToken, good)
	expect(t, r, 201, "")
	ep := decodeJSON[api.WebhookCreated](t, r)
	if ep.Secret == "" || !ep.Enabled {
		t.Fatalf("created %+v", ep)
	}
	one := base + "/" + ep.ID
	for _, tc := range []struct {
		name        string
		body        map[string]any
		code, field string
	}{
		{"malformed url", with("url", "http://[::1"), api.CodeWebhookInvalid, "url"},
		{"not http", with("url", "ftp://93.184.215.14/x"), api.CodeWebhookInvalid, "url"},
		{"loopback", with("url", "http://127.0.0.1:9/x"), api.CodeWebhookInvalid, "url"},
		{"private", with("url", "http://10.1.2.3/x"), api.CodeWebhookInvalid, "url"},
		{"link-local", with("url", "http://169.254.169.254/latest"), api.CodeWebhookInvalid, "url"},
		{"mapped loopback", with("url", "http://[::ffff:127.0.0.1]/x"), api.CodeWebhookInvalid, "url"},
		{"unknown type", with("eventTypes", []string{"order.placed", "order.exploded"}), api.CodeWebhookInvalid, "eventTypes[1]"},
		{"no type", with("eventTypes", []string{}), api.CodeWebhookInvalid, "eventTypes"},
		{"unknown identity", with("identities", []string{"nowhere"}), api.CodeWebhookInvalid, "identities[0]"},
		{"short secret", with("secret", "whsec_c2hvcnQ="), api.CodeWebhookInvalid, "secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.with(t).do("POST", base, adminToken, tc.body)
			expect(t, r, 422, tc.code)
			if f := r.json(t)["field"]; f != tc.field {
				t.Fatalf("field %v; want %s (%s)", f, tc.field, r)
			}
		})
	}
	run := func(method, path, token string, body any, status int, code string) reply {
		t.Helper()
		r := e.do(method, path, token, body)
		expect(t, r, status, code)
		return r
	}
	run("POST", base, adminToken, `{"url":1}`, 400, api.CodeInvalidType)
	run("POST", base, "", good, 401, "")
	run("POST", base, alice, good, 403, "")
	run("POST", base, adminToken, with("secret", "whsec_"+base64.StdEncoding.EncodeToString(make([]byte, 24))), 201, "")
	run("POST", base, adminToken, good, 409, api.CodeWebhookLimit)
	run("GET", base, adminToken, nil, 200, "")
	run("GET", base, "", nil, 401, "")
	run("GET", base, alice, nil, 403, "")
	run("GET", one, adminToken, nil, 200, "")
	run("GET", one, "", nil, 401, "")
	run("GET", one, alice, nil, 403, "")
	run("GET", base+"/we_none", adminToken, nil, 404, api.CodeWebhookNotFound)
	disabled := with("enabled", false)
	after := decodeJSON[webhooks.EndpointView](t, run("PUT", one, adminToken, disabled, 200, ""))
	if after.Enabled {
		t.Fatal("update did not disable")
	}
	run("PUT", one, adminToken, `{"url":`, 400, api.CodeMalformedJSON)
	run("PUT", one, adminToken, with("secret", "whsec_"+base64.StdEncoding.EncodeToString(make([]byte, 32))), 422, api.CodeWebhookInvalid)
	run("PUT", base+"/we_none", adminToken, good, 404, api.CodeWebhookNotFound)
	run("PUT", one, "", good, 401, "")
	run("PUT", one, alice, good, 403, "")
	rot := decodeJSON[api.WebhookSecret](t, run("POST", one+"/rotate-secret", adminToken, nil, 200, ""))
	if rot.Secret == ep.Secret || webhooks.CheckSecret(rot.Secret) != nil {
		t.Fatalf("rotated secret %q", rot.Secret)
	}
	if v := decodeJSON[webhooks.EndpointView](t, run("GET", one, adminToken, nil, 200, "")); v.PreviousSecretUntil == nil {
		t.Fatal("no grace period shown after a rotation")
	}
	run("POST", base+"/we_none/rotate-secret", adminToken, nil, 404, api.CodeWebhookNotFound)
	run("POST", one+"/rotate-secret", "", nil, 401, "")
	run("POST", one+"/rotate-secret", alice, nil, 403, "")
	for _, sub := range []string{"/deliveries", "/attempts"} {
		run("GET", one+sub, adminToken, nil, 200, "")
		run("GET", one+sub+"?limit=0", adminToken, nil, 400, api.CodeInvalidLimit)
		run("GET", base+"/we_none"+sub, adminToken, nil, 404, api.CodeWebhookNotFound)
		run("GET", one+sub, "", nil, 401, "")
		run("GET", one+sub, alice, nil, 403, "")
	}
	run("GET", one+"/deliveries?cursor=nope", adminToken, nil, 400, api.CodeInvalidCursor)
	run("GET", one+"/deliveries?state=lost", adminToken, nil, 400, api.CodeInvalidRequest)
	// A delivery to redeliver: queued straight from an event.
	run("PUT", one, adminToken, good, 200, "")
	svc := webhookService(t, e)
	if err := svc.Handle(t.Context(), outbox.Event{ID: "ev-1", Topic: "order.placed", AggregateID: "o-1", BizCode: "retail.vip",
		Payload: json.RawMessage(`{}`), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ds := decodeJSON[api.WebhookDeliveries](t, run("GET", one+"/deliveries", adminToken, nil, 200, ""))
	if len(ds.Items) != 1 || ds.Items[0].EventID != "ev-1" || ds.Items[0].State != webhooks.StatePending {
		t.Fatalf("deliveries %+v", ds.Items)
	}
	redeliver := one + "/deliveries/" + ds.Items[0].ID + "/redeliver"
	run("POST", redeliver, adminToken, nil, 202, "")
	run("POST", one+"/deliveries/wd_none/redeliver", adminToken, nil, 404, api.CodeWebhookDeliveryMissing)
	run("POST", base+"/we_none/deliveries/wd_none/redeliver", adminToken, nil, 404, api.CodeWebhookNotFound)
	run("POST", redeliver, "", nil, 401, "")
	run("POST", redeliver, alice, nil, 403, "")
	run("PUT", one, adminToken, disabled, 200, "")
	run("POST", redeliver, adminToken, nil, 409, api.CodeWebhookDisabled)
	run("DELETE", one, adminToken, nil, 204, "")
	run("DELETE", one, adminToken, nil, 404, api.CodeWebhookNotFound)
	run("DELETE", base+"/x", "", nil, 401, "")
	run("DELETE", base+"/x", alice, nil, 403, "")

	// Audited, never with a secret.
	r = run("GET", "/v1/admin/audit?targetType=webhook_endpoint&limit=100", adminToken, nil, 200, "")
	if strings.Contains(string(r.raw), ep.Secret) || strings.Contains(string(r.raw), rot.Secret) {
		t.Fatal("a secret is in the audit log")
	}
	verbs := map[string]bool{}
	for _, it := range decodeJSON[api.AuditList](t, r).Items {
		verbs[it.Verb] = true
	}
	for _, v := range []string{"create", "update", "rotate-secret", "redeliver", "delete"} {
		if !verbs[v] {
			t.Errorf("no %q entry in the audit log: %v", v, verbs)
		}
	}
	if strings.Contains(e.logs.String(), ep.Secret) || strings.Contains(e.logs.String(), rot.Secret) {
		t.Fatal("a secret is in the log")
	}

	// Every documented status of every webhook operation was answered.
	s, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range s.model.Paths.PathItems.FromOldest() {
		if !strings.HasPrefix(path, base) {
			continue
		}
		for method, op := range item.GetOperations().FromOldest() {
			name := strings.ToUpper(method) + " " + path
			for code := range op.Responses.Codes.KeysFromOldest() {
				status, _ := strconv.Atoi(code)
				if status != 500 && status != 429 && status != 503 && !e.seen.seen[name][status] {
					t.Errorf("%s: documented status %d was never answered", name, status)
				}
			}
		}
	}
}

// webhookService is the service of a webhookEnv's server, found again by
// building another over the same store (they share the tables).
func webhookService(t *testing.T, e *env) *webhooks.Service {
	t.Helper()
	return webhooks.New(e.st, webhooks.Options{})
}
