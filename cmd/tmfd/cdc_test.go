package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tmf-platform/tmf/platform/cdc"
	"github.com/tmf-platform/tmf/platform/cdc/cdctest"
	"github.com/tmf-platform/tmf/platform/store"
)

func TestParseCDC(t *testing.T) {
	env := map[string]string{"TMF_DB": "postgres://u@h/db", "TMF_CDC_SLOT": "s_env"}
	getenv := func(k string) string { return env[k] }
	o, err := parseCDC([]string{"setup", "--publication", "p_flag"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Action != "setup" || o.Config.DSN != "postgres://u@h/db" || o.Config.Slot != "s_env" || o.Config.Publication != "p_flag" ||
		o.Config.Stream != cdc.DefaultStream || o.Config.NATSURL != "nats://127.0.0.1:4222" || o.Config.MaxInFlight != cdc.DefaultMaxInFlight {
		t.Errorf("options %+v", o)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"no database", nil, map[string]string{}},
		{"mysql", []string{"--db", "mysql://root@tcp(h:3306)/test"}, map[string]string{}},
		{"sqlite", []string{"--db", "sqlite:data/tmf.db"}, map[string]string{}},
		{"argument", []string{"--db", "postgres://h/db", "now"}, map[string]string{}},
		{"window", []string{"--db", "postgres://h/db", "--max-in-flight", "0"}, map[string]string{}},
		{"window from env", []string{"--db", "postgres://h/db"}, map[string]string{"TMF_CDC_MAX_IN_FLIGHT": "many"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseCDC(tc.args, func(k string) string { return tc.env[k] }, io.Discard); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// cdcProcess is a tmfd cdc listener started as a process of its own.
type cdcProcess struct {
	name string
	cmd  *exec.Cmd
	log  *markedLog
	done chan struct{}
}

// markedLog keeps a process's output and counts lines that carry a mark.
type markedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *markedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *markedLog) count(mark string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), mark)
}

func (l *markedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	if len(s) > 20000 {
		s = "…" + s[len(s)-20000:]
	}
	return s
}

func startCDC(t *testing.T, bin, name string, args ...string) *cdcProcess {
	t.Helper()
	p := &cdcProcess{name: name, cmd: exec.Command(bin, append([]string{"cdc"}, args...)...), log: &markedLog{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("tmfd cdc %s log:\n%s", name, p.log.String())
		}
	})
	return p
}

// waitUntil polls cond every 20ms for at most limit.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Now()
}

func envInt(t *testing.T, name string, def, min int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		t.Fatalf("%s=%q: want %d or more", name, v, min)
	}
	return n
}

// Two tmfd cdc listeners on one slot (JD's Hamal). A backlog of orders is
// written before they start; then buyers place orders (one in ten rolled
// back by a failing step) and move them through up to three transitions,
// and a third of the way through the active listener is SIGKILLed. The
// standby takes over from the slot's confirmed position; a JetStream
// consumer must see, for every committed order, every version it reached,
// nothing of a rolled-back order, and the same id for every copy of a
// change. The backlog's drain rate (events/s) and commit-to-consumer
// latency before the kill are logged (docs/performance.md).
// TMF_CDC_SECONDS sets how long the buyers run (default 6) and
// TMF_CDC_BACKLOG the backlog's orders (default 300).
func TestCDCStandbyTakesOverWithoutGaps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two tmfd cdc processes")
	}
	url := cdctest.NATSURL(t)
	dsn := cdctest.Database(t)
	seconds := envInt(t, "TMF_CDC_SECONDS", 6, 2)
	backlog := envInt(t, "TMF_CDC_BACKLOG", 300, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tmfd")
	if out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building tmfd: %v\n%s", err, out)
	}
	slot, pub := cdctest.Names(t, dsn)
	if out, err := exec.Command(bin, "cdc", "setup", "--db", dsn, "--slot", slot, "--publication", pub).CombinedOutput(); err != nil {
		t.Fatalf("tmfd cdc setup: %v\n%s", err, out)
	}
	s := cdctest.NewStream(t, url, false) // the listeners create it

	// What committed: for every order, the version it reached.
	var mu sync.Mutex
	reached := map[string]int64{}
	refused := map[string]bool{}
	place := func(id string, rollBack bool, transitions int) {
		n := store.NewOrder{Order: store.Order{ID: id, BizCode: "retail", BuyerID: "b-" + id[:2], Status: "created", Currency: "CNY",
			Subtotal: 100, Total: 100, Lines: []store.OrderLine{{SKU: "sku-1", Quantity: 1, ListPrice: 100, UnitPrice: 100}}}}
		if rollBack {
			n.Steps = []store.Step{func(context.Context, *gorm.DB) error { return errors.New("out of stock") }}
		}
		err := st.CreateOrder(ctx, n)
		mu.Lock()
		defer mu.Unlock()
		if rollBack {
			if err == nil {
				t.Errorf("order %s: the failing step did not roll it back", id)
			}
			refused[id] = true
			return
		}
		if err != nil {
			t.Errorf("order %s: %v", id, err)
			return
		}
		reached[id] = 1
		for v := int64(1); v <= int64(transitions); v++ {
			mu.Unlock()
			_, err := st.TransitionOrder(ctx, store.Transition{OrderID: id, ExpectVersion: v, To: "state-" + strconv.FormatInt(v+1, 10)})
			mu.Lock()
			if err != nil {
				t.Errorf("order %s to version %d: %v", id, v+1, err)
				return
			}
			reached[id] = v + 1
		}
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < backlog; i += 8 {
				place(fmt.Sprintf("bl-%d", i), false, 0)
			}
		})
	}
	wg.Wait()

	common := []string{"--db", dsn, "--slot", slot, "--publication", pub, "--nats", url, "--stream", s.Name,
		"--subject-prefix", s.SubjectPrefix}
	metrics := freeAddr(t)
	a := startCDC(t, bin, "a", append(common, "--metrics-listen", metrics)...)
	waitUntil(t, 60*time.Second, "listener a active", func() bool { return a.log.count(`"cdc: active"`) == 1 })
	started := time.Now()
	metricsB := freeAddr(t)
	b := startCDC(t, bin, "b", append(common, "--metrics-listen", metricsB)...)
	waitUntil(t, 60*time.Second, "listener b waiting", func() bool { return b.log.count(`"cdc: standby`) == 1 })
	if b.log.count(`"cdc: active"`) != 0 {
		t.Fatal("both listeners are active")
	}
	waitUntil(t, 60*time.Second, "the stream", func() bool { _, err := s.JS.Stream(ctx, s.Name); return err == nil })
	c := cdctest.Collect(t, s)
	if backlog > 0 {
		drained := c.WaitFor(t, 2*time.Minute, "the backlog", func(r []cdctest.Received) bool { return len(r) >= backlog })
		last := drained[backlog-1].At
		t.Logf("CDC drained a backlog of %d order inserts in %v: %.0f events/s (from the listener taking the lock)",
			backlog, last.Sub(started).Round(time.Millisecond), float64(backlog)/last.Sub(started).Seconds())
	}
	// The slot lag is a metric of the active listener.
	body := scrape(t, metrics)
	for _, name := range []string{"tmf_cdc_slot_lag_bytes", "tmf_cdc_lag_seconds", "tmf_cdc_active 1", "tmf_cdc_published_total", "tmf_cdc_duplicates_total"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s:\n%s", name, body)
		}
	}

	loadStart := time.Now()
	var killedAt atomic.Value
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				place(id, i%10 == 9, i%4)
			}
		})
	}
	time.Sleep(time.Duration(seconds) * time.Second / 3) // load runs; the kill comes a third of the way in
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.done
	killedAt.Store(time.Now())
	took := waitUntil(t, 60*time.Second, "listener b taking over", func() bool { return b.log.count(`"cdc: reading the slot"`) >= 1 })
	t.Logf("listener b reads the slot %v after a's SIGKILL", took.Sub(killedAt.Load().(time.Time)).Round(time.Millisecond))
	time.Sleep(time.Until(loadStart.Add(time.Duration(seconds) * time.Second)))
	close(stop)
	wg.Wait()
	loadEnd := time.Now()
	if t.Failed() {
		return
	}

	mu.Lock()
	want := maps(reached)
	mu.Unlock()
	changes := 0
	for _, v := range want {
		changes += int(v)
	}
	seen := func(r []cdctest.Received) map[string]map[int64]bool {
		m := map[string]map[int64]bool{}
		for _, x := range r {
			if m[x.Event.Subject] == nil {
				m[x.Event.Subject] = map[int64]bool{}
			}
			m[x.Event.Subject][x.Event.Version] = true
		}
		return m
	}
	complete := func(r []cdctest.Received) bool {
		m := seen(r)
		for id, top := range want {
			for v := int64(1); v <= top; v++ {
				if !m[id][v] {
					return false
				}
			}
		}
		return true
	}
	got, bad := c.WaitFor(t, 3*time.Minute, "every committed version", complete), []string(nil)
	caughtUp := time.Now()
	_, bad = c.Received()
	if len(bad) > 0 {
		t.Errorf("messages that are not CloudEvents: %v", bad)
	}
	ids := map[string]string{} // order/version → id
	dups := 0
	var latencies []time.Duration
	killed := killedAt.Load().(time.Time)
	for _, r := range got {
		if refused[r.Event.Subject] {
			t.Errorf("an event of the rolled-back order %s", r.Event.Subject)
		}
		if r.Event.Type != cdc.EventType || r.MsgID != r.Event.ID || r.Event.Validate() != nil {
			t.Errorf("message %+v", r)
		}
		key := r.Event.Subject + "/" + strconv.FormatInt(r.Event.Version, 10)
		if id, ok := ids[key]; ok {
			dups++
			if id != r.Event.ID {
				t.Errorf("%s arrived with ids %s and %s", key, id, r.Event.ID)
			}
			continue
		}
		ids[key] = r.Event.ID
		if r.Event.Time.After(loadStart) && r.Event.Time.Before(killed) {
			latencies = append(latencies, r.At.Sub(r.Event.Time))
		}
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(p*float64(len(latencies)-1))].Round(100 * time.Microsecond)
	}
	t.Logf("%d orders, %d committed changes (%.0f/s) and %d rolled back over %v; the consumer saw every version "+
		"%v after the load ended; %d duplicates across the switch-over; commit-to-consumer latency before the kill: p50 %v, p99 %v (%d events)",
		len(want), changes, float64(changes-backlog)/loadEnd.Sub(loadStart).Seconds(), len(refused), loadEnd.Sub(loadStart).Round(time.Millisecond),
		caughtUp.Sub(loadEnd).Round(time.Millisecond), dups, pct(0.50), pct(0.99), len(latencies))
	metricsOfB := scrape(t, metricsB)
	// A stop (SIGTERM) ends the listener cleanly, its position confirmed.
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.done:
		if code := b.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("tmfd cdc b exited with %d after SIGTERM", code)
		}
	case <-time.After(60 * time.Second):
		t.Error("tmfd cdc b still runs a minute after SIGTERM")
	}
	if out, err := exec.Command(bin, "cdc", "drop", "--db", dsn, "--slot", slot, "--publication", pub).CombinedOutput(); err != nil {
		t.Errorf("tmfd cdc drop: %v\n%s", err, out)
	}
	var left int
	if err := st.DB(ctx).Raw("SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?) + (SELECT count(*) FROM pg_publication WHERE pubname = ?)",
		slot, pub).Scan(&left).Error; err != nil || left != 0 {
		t.Errorf("after tmfd cdc drop: %d of the slot and publication left (%v)", left, err)
	}
	for _, line := range strings.Split(metricsOfB, "\n") {
		if strings.HasPrefix(line, "tmf_cdc_duplicates_total ") || strings.HasPrefix(line, "tmf_cdc_published_total ") {
			t.Logf("listener b: %s", line) // changes b published again after the switch-over, dropped by JetStream
		}
	}
}

// scrape reads a listener's /metrics.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func maps(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
