// Package supplier is the top-up supplier's HTTP protocol as the
// virtual-topup bizpack speaks it, and a sandbox supplier that speaks it
// for tests and demos. The sandbox chooses what happens to a top-up by the
// last digit of its phone number:
//
//	0, 1, 9  delivered at once (the order answer is "done")
//	2        accepted, then a signed callback says delivered
//	3        accepted, then the same delivery is called back twice
//	4        refused at once (the number is barred)
//	5        accepted, then a signed callback says it failed
//	6        accepted, no callback: polling finds it delivered
//	7        accepted, then delivered late: the callback comes after LateAfter
//	8        unavailable (503) on the first two tries, then delivered
//
// A top-up request carries the order id as its request id: the same id
// again answers what the first request became and never tops up twice.
// Callbacks are signed the Standard Webhooks way (webhook-id,
// webhook-timestamp, webhook-signature: v1, HMAC-SHA256 of
// "id.timestamp.body" keyed by the secret), as the platform's
// POST /v1/fulfilment/callbacks/{supplier} checks them.
package supplier

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Statuses of a top-up.
const (
	StatusAccepted = "accepted" // the supplier works on it; the answer comes later
	StatusDone     = "done"
	StatusRejected = "rejected"
)

// TopupRequest is the body of POST /v1/topups.
type TopupRequest struct {
	RequestID string `json:"requestId"`
	Phone     string `json:"phone"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
}

// Topup is the supplier's answer about one top-up.
type Topup struct {
	RequestID string `json:"requestId"`
	Status    string `json:"status"`
	Reference string `json:"reference"`
	Reason    string `json:"reason,omitempty"`
}

// Sandbox is a fake top-up supplier.
type Sandbox struct {
	// Name is the supplier's name on the platform (its callback path).
	Name string
	// Secret signs callbacks ("whsec_<base64>").
	Secret string
	// CallbackURL is the platform's callback endpoint for this supplier,
	// e.g. http://127.0.0.1:8080/v1/fulfilment/callbacks/topup-sandbox.
	CallbackURL string
	// Delay before a callback; LateAfter before a late one (digit 7),
	// meant to be past the identity's fulfilment deadline.
	Delay, LateAfter time.Duration
	Client           *http.Client

	mu       sync.Mutex
	topups   map[string]*Topup
	tries    map[string]int
	requests int
	wg       sync.WaitGroup
	ctx      context.Context
	stop     context.CancelFunc
	sent     []string // callback outcomes sent, in order ("<requestId>:<status>:<http status>")
}

// NewSandbox returns a sandbox supplier; Close stops its callbacks.
func NewSandbox(name, secret, callbackURL string) *Sandbox {
	ctx, stop := context.WithCancel(context.Background())
	return &Sandbox{Name: name, Secret: secret, CallbackURL: callbackURL, Delay: 100 * time.Millisecond, LateAfter: 3 * time.Second,
		Client: &http.Client{Timeout: 5 * time.Second}, topups: map[string]*Topup{}, tries: map[string]int{}, ctx: ctx, stop: stop}
}

// Close stops pending callbacks and waits for those under way.
func (s *Sandbox) Close() {
	s.stop()
	s.wg.Wait()
}

// Requests counts the top-up requests that created a top-up (not the
// repeats of a request id).
func (s *Sandbox) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Sent lists the callbacks sent ("requestId:status:httpStatus").
func (s *Sandbox) Sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sent...)
}

// ServeHTTP serves POST /v1/topups and GET /v1/topups/{requestId}.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/topups":
		var req TopupRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.RequestID == "" || req.Phone == "" {
			http.Error(w, "malformed top-up", http.StatusBadRequest)
			return
		}
		t, code := s.topup(req)
		if code != http.StatusOK {
			http.Error(w, "try again", code)
			return
		}
		writeJSON(w, t)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/topups/"):
		s.mu.Lock()
		t, ok := s.topups[strings.TrimPrefix(r.URL.Path, "/v1/topups/")]
		var c Topup
		if ok {
			c = *t
		}
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, c)
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// topup handles one request: a known request id answers as it stands.
func (s *Sandbox) topup(req TopupRequest) (Topup, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.topups[req.RequestID]; ok {
		return *t, http.StatusOK
	}
	digit := req.Phone[len(req.Phone)-1]
	if digit == '8' {
		s.tries[req.RequestID]++
		if s.tries[req.RequestID] <= 2 {
			return Topup{}, http.StatusServiceUnavailable
		}
	}
	s.requests++
	t := &Topup{RequestID: req.RequestID, Status: StatusAccepted, Reference: fmt.Sprintf("SBX-%d", s.requests)}
	s.topups[req.RequestID] = t
	switch digit {
	case '2':
		s.later(t, s.Delay, StatusDone, 1)
	case '3':
		s.later(t, s.Delay, StatusDone, 2)
	case '4':
		t.Status, t.Reason = StatusRejected, "the number is barred"
	case '5':
		s.later(t, s.Delay, StatusRejected, 1)
	case '6':
		// Delivered, but only a query tells.
		t.Status = StatusDone
		c := *t
		c.Status = StatusAccepted
		return c, http.StatusOK
	case '7':
		s.later(t, s.LateAfter, StatusDone, 1)
	default:
		t.Status = StatusDone
	}
	return *t, http.StatusOK
}

// later settles a top-up after d and calls the platform back times times.
// The caller holds s.mu.
func (s *Sandbox) later(t *Topup, d time.Duration, status string, times int) {
	id := t.RequestID
	s.wg.Go(func() {
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(d):
		}
		s.mu.Lock()
		t.Status = status
		if status == StatusRejected {
			t.Reason = "the carrier refused the top-up"
		}
		c := *t
		s.mu.Unlock()
		for range times {
			code := s.callback(c)
			s.mu.Lock()
			s.sent = append(s.sent, fmt.Sprintf("%s:%s:%d", id, status, code))
			s.mu.Unlock()
		}
	})
}

// Callback is the body the supplier posts to the platform.
type Callback struct {
	OrderID   string `json:"orderId"`
	Outcome   string `json:"outcome"`
	Reference string `json:"reference,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// callback posts one signed answer (a fresh webhook-id each time: the
// platform must see a repeated answer as a duplicate by its content, not
// only by its id) and returns the HTTP status (0 when it failed).
func (s *Sandbox) callback(t Topup) int {
	cb := Callback{OrderID: t.RequestID, Outcome: "fulfilled", Reference: t.Reference}
	if t.Status == StatusRejected {
		cb.Outcome, cb.Reason = "failed", t.Reason
	}
	body, _ := json.Marshal(cb)
	var idb [12]byte
	_, _ = rand.Read(idb[:])
	id := "msg_" + hex.EncodeToString(idb[:])
	headers, err := Sign(s.Secret, id, time.Now(), body)
	if err != nil {
		return 0
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Sign returns the Standard Webhooks headers of body.
func Sign(secret, id string, ts time.Time, body []byte) (map[string]string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("supplier: malformed secret")
	}
	unix := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + unix + "."))
	m.Write(body)
	return map[string]string{"webhook-id": id, "webhook-timestamp": unix,
		"webhook-signature": "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))}, nil
}
