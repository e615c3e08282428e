package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/domains/payment"
	"github.com/tmf-platform/tmf/platform/store/storetest"
)

// crashAdmin is the administrator token of the crash test's servers.
const crashAdmin = "crash-test-admin-token-0123456789abcdef"

// Two tmfd processes on one PostgreSQL database; buyers place orders and
// pay (cards that succeed, hang, lose their answer or are declined),
// cancel paid and unpaid orders and leave others to time out, against
// either server; halfway, one server is SIGKILLed and started again. Once
// the load stops, the money audit must come clean — 0 charged-and-cancelled
// orders, 0 unresolved attempts, 0 lost or failed refunds — and the stock
// audit too, with every order at rest. The time from the restart until
// then is logged (docs/performance.md). TMF_CRASH_SECONDS sets how long the
// buyers run (default 6; 60 for a soak).
func TestTwoServersSurviveAKillWhileBuyersPay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two tmfd processes")
	}
	if !storetest.Available("postgres") {
		t.Skip("TMF_TEST_POSTGRES is not set: skipping the two-server crash test (it needs PostgreSQL)")
	}
	seconds := 6
	if v := os.Getenv("TMF_CRASH_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			t.Fatalf("TMF_CRASH_SECONDS=%q: want 2 or more", v)
		}
		seconds = n
	}
	dsn := storetest.NewDatabase(t, "postgres")
	bin, dir := buildTmfd(t)
	cfg := crashConfig(t, dir, "3s")
	a := startTmfd(t, bin, dir, "a", dsn, cfg, true, crashFlags...)
	b := startTmfd(t, bin, dir, "b", dsn, cfg, false, crashFlags...)
	nodes := newNodeSet(a, b)
	var load buyerLoad
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { load.run(i, nodes.pick, stop) })
	}
	time.Sleep(time.Duration(seconds) * time.Second / 2)
	nodes.kill(t, 0)
	time.Sleep(500 * time.Millisecond)
	restarted := time.Now()
	nodes.restart(t, 0, startTmfd(t, bin, dir, "a2", dsn, cfg, false, crashFlags...))
	time.Sleep(time.Duration(seconds) * time.Second / 2)
	close(stop)
	wg.Wait()
	loadEnded := time.Now()

	audit := settle(t, b.base)
	settled := time.Now()
	if load.placed.Load() < 20 || load.paid.Load() == 0 {
		t.Fatalf("too little load to mean anything: %d placed, %d paid", load.placed.Load(), load.paid.Load())
	}
	t.Logf("%d orders placed, %d payments answered 200, %d paid orders cancelled; %v orders checked by the audit; "+
		"settled %v after the restart (%v after the load ended)", load.placed.Load(), load.paid.Load(), load.cancelled.Load(), audit["orders"],
		settled.Sub(restarted).Round(time.Millisecond), settled.Sub(loadEnded).Round(time.Millisecond))
}

// buildTmfd builds this package's tmfd into a temporary directory of the
// test and answers the binary and the directory.
func buildTmfd(t *testing.T) (bin, dir string) {
	t.Helper()
	dir = t.TempDir()
	bin = filepath.Join(dir, "tmfd")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building tmfd: %v\n%s", err, out)
	}
	return bin, dir
}

// crashConfig writes the configuration file of the multi-process tests:
// the identity retail with the payment timeout given (3s leaves orders to
// time out during the load).
func crashConfig(t *testing.T, dir, paymentTimeout string) string {
	t.Helper()
	cfg := filepath.Join(dir, "tmfd.yaml")
	if err := os.WriteFile(cfg, []byte(`revision: 1
identities:
  - code: retail
    products: [{name: standard-retail}]
    paymentTimeout: `+paymentTimeout+`
rules:
  - identity: retail
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// nodeSet is the tmfd processes of a test behind a round-robin client:
// pick answers the next live node's base URL in turn; a killed node is
// out of the rotation until restarted.
type nodeSet struct {
	mu    sync.Mutex
	nodes []*tmfdProcess
	live  []bool
	next  int
}

func newNodeSet(nodes ...*tmfdProcess) *nodeSet {
	s := &nodeSet{nodes: nodes, live: make([]bool, len(nodes))}
	for i := range s.live {
		s.live[i] = true
	}
	return s
}

// pick is the round-robin choice of the next live node.
func (s *nodeSet) pick() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range s.nodes {
		i := s.next % len(s.nodes)
		s.next++
		if s.live[i] {
			return s.nodes[i].base
		}
	}
	return s.nodes[0].base // none live: the call fails like any other to a dead server
}

// node is node i (the restarted one after a restart).
func (s *nodeSet) node(i int) *tmfdProcess {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nodes[i]
}

// kill takes node i out of the rotation and SIGKILLs it.
func (s *nodeSet) kill(t *testing.T, i int) {
	t.Helper()
	s.mu.Lock()
	s.live[i] = false
	p := s.nodes[i]
	s.mu.Unlock()
	p.kill(t)
}

// restart puts p in node i's place, back in the rotation.
func (s *nodeSet) restart(_ *testing.T, i int, p *tmfdProcess) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes[i], s.live[i] = p, true
}

// buyerLoad is what the paying buyers of the multi-process tests did.
type buyerLoad struct {
	placed, paid, cancelled atomic.Int64
	latest                  sync.Map // token → the id of its latest order
}

// latestOf answers the id of token's latest order ("" before its first).
func (l *buyerLoad) latestOf(token string) func() string {
	return func() string {
		id, _ := l.latest.Load(token)
		s, _ := id.(string)
		return s
	}
}

// run is buyer i until stop: it places orders of case-x through pick and
// pays them with cards that succeed, hang, lose their answer or are
// declined, cancels paid and unpaid orders (racing a payment) and leaves
// others to the payment timeout.
func (l *buyerLoad) run(i int, pick func() string, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(uint64(i), 42))
	token := []string{"demo-alice", "demo-bob"}[i%2]
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		id := crashPlace(pick(), token, fmt.Sprintf("w%d-%d", i, n))
		if id == "" {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		l.placed.Add(1)
		l.latest.Store(token, id)
		pay := func(card, key string) int {
			code, _ := crashCall(pick(), token, "POST", "/v1/orders/"+id+"/payments", `{"card":{"number":"`+card+`"}}`, key)
			if code == 200 {
				l.paid.Add(1)
			}
			return code
		}
		switch rng.IntN(8) {
		case 0, 1:
			pay(payment.CardApproved, "k1")
		case 2: // paid, then cancelled: refunded
			if pay(payment.CardApproved, "k1") == 200 {
				if code, _ := crashCall(pick(), token, "POST", "/v1/orders/"+id+"/events", `{"event":"cancel"}`, ""); code == 200 {
					l.cancelled.Add(1)
				}
			}
		case 3: // the answer is lost; the buyer tries the same key again
			if pay(payment.CardAnswerLost, "k1") != 200 {
				pay(payment.CardAnswerLost, "k1")
			}
		case 4: // the capture hangs past the processor deadline; left to recovery
			pay(payment.CardCaptureHangs, "k1")
		case 5: // declined, then another card
			pay(payment.CardDeclined, "k1")
			pay(payment.CardApproved, "k2")
		case 6: // cancelled unpaid, racing a payment
			base := pick()
			var race sync.WaitGroup
			race.Go(func() {
				crashCall(base, token, "POST", "/v1/orders/"+id+"/payments", `{"card":{"number":"`+payment.CardAnswerLost+`"}}`, "k1")
			})
			crashCall(pick(), token, "POST", "/v1/orders/"+id+"/events", `{"event":"cancel"}`, "")
			race.Wait()
		case 7: // left to the payment timeout
		}
	}
}

// settle waits until everything settled by itself — timeouts, recovery
// of attempts, refunds: the money audit clean and no order pending
// payment — then checks the stock audit; it answers the money audit.
func settle(t *testing.T, base string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var audit map[string]any
	for {
		_, audit = crashCall(base, crashAdmin, "GET", "/v1/admin/payments/audit", "", "")
		_, open := crashCall(base, crashAdmin, "GET", "/v1/orders?status=pending_payment&limit=1", "", "")
		orders, _ := open["orders"].([]any)
		if audit["clean"] == true && len(orders) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the money audit is not clean 2 minutes after the load (pending-payment orders: %d): %v", len(orders), audit)
		}
		time.Sleep(250 * time.Millisecond)
	}
	_, st := crashCall(base, crashAdmin, "GET", "/v1/admin/stock/audit", "", "")
	if st["clean"] != true {
		t.Fatalf("stock audit: %v", st)
	}
	return audit
}

// tmfdProcess is a tmfd started as a process of its own.
type tmfdProcess struct {
	base string
	cmd  *exec.Cmd
	log  *lockedWriter
	done chan struct{}
}

// crashFlags are the crash test's own flags: a short card-processor
// deadline, so that payment recovery settles a killed server's attempts soon.
var crashFlags = []string{"--payment-call-timeout", "1s"}

// startTmfd starts bin serve on a free port, with extra flags after the
// common ones, and waits until it is ready; the process is stopped when the
// test ends, its log printed if it failed.
func startTmfd(t *testing.T, bin, dir, name, dsn, cfg string, demo bool, extra ...string) *tmfdProcess {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	args := append([]string{"serve", "--listen", addr, "--db", dsn, "--config", cfg, "--admin-token", crashAdmin,
		"--bizpack-dir", filepath.Join(dir, "uploads-"+name)}, extra...)
	if demo {
		args = append(args, "--demo")
	}
	p := &tmfdProcess{base: "http://" + addr, cmd: exec.Command(bin, args...), log: &lockedWriter{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("tmfd %s log:\n%s", name, p.log.String())
		}
	})
	// Generous: a node restarted against a busy database migrates (gorm
	// reads every table's columns from information_schema) while the
	// others carry the load, on a machine whose cores CI shares.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("tmfd %s exited before it was ready:\n%s", name, p.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("tmfd %s not ready after three minutes:\n%s", name, p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill SIGKILLs the process: no shutdown, no cleanup.
func (p *tmfdProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// lockedWriter keeps what a process writes to its stdout and stderr.
type lockedWriter struct {
	mu sync.Mutex
	w  bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// String is the last 100 lines written, so that a failure's cause is not
// buried under the server's log.
func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimRight(l.w.String(), "\n"), "\n")
	if len(lines) > 100 {
		lines = append([]string{fmt.Sprintf("… %d earlier lines", len(lines)-100)}, lines[len(lines)-100:]...)
	}
	return strings.Join(lines, "\n")
}

// crashPlace places an order of a case and answers its id ("" when refused
// or the server is down).
func crashPlace(base, token, key string) string {
	code, body := crashCall(base, token, "POST", "/v1/orders",
		`{"items":[{"sku":"case-x","quantity":1}],"shippingAddress":{"region":"east","line1":"1 Bund"}}`, key)
	if code != http.StatusCreated {
		return ""
	}
	id, _ := body["id"].(string)
	return id
}

var crashClient = &http.Client{Timeout: 20 * time.Second}

// crashCall is apiCall without a testing.T (it runs in the buyers'
// goroutines): a server that is down answers 0.
func crashCall(base, token, method, path, body, key string) (int, map[string]any) {
	req, err := http.NewRequest(method, base+path, bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := crashClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
