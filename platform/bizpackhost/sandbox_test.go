package bizpackhost_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// landlockFS reports whether this kernel confines the filesystem.
func landlockFS() bool { return runtime.GOOS == "linux" && bizpackhost.LandlockABI() >= 1 }

// ask sends the chaos bizpack a buyer that makes it try something and
// returns what it reports (its verdict's reason).
func ask(t *testing.T, e *env, buyer, code string) string {
	t.Helper()
	d, err := validate(e.begin(t), buyer)
	// A starved machine may make the call miss its deadline (or the
	// breaker those misses open): ask again, up to a minute.
	for deadline := time.Now().Add(time.Minute); err != nil && time.Now().Before(deadline); {
		var ee *kernel.ExtensionError
		if !errors.As(err, &ee) || ee.Outcome != kernel.OutcomeTimeout && !errors.Is(err, bizpackhost.ErrBreakerOpen) {
			break
		}
		time.Sleep(200 * time.Millisecond)
		d, err = validate(e.begin(t), buyer)
	}
	if err != nil || d.Allowed || d.Code != code {
		t.Fatalf("validate(%q) = %+v, %v; want a report %q", buyer, d, err, code)
	}
	return d.Reason
}

// dataDir is a server's data directory as tmfd lays it out: the database
// file, the upload directory and the bizpacks' run directory. Everything
// is open to every user, so that only Landlock stands in the way.
func dataDir(t *testing.T) (dir, db, upload string) {
	t.Helper()
	dir = openDir(t)
	db = filepath.Join(dir, "tmf.db")
	upload = filepath.Join(dir, "uploads")
	if err := os.WriteFile(db, []byte("SQLite format 3\x00 secrets"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(upload, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(upload, "other.bin"), []byte("another team's bizpack"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, db, upload
}

func TestABizpackCannotReadTheServersFiles(t *testing.T) {
	if !landlockFS() {
		t.Skip("no Landlock in this kernel (or not Linux): the host warns that bizpacks' filesystem is not restricted")
	}
	dir, db, upload := dataDir(t)
	o := fast
	o.RunDir = filepath.Join(dir, "bizpacks")
	e := setup(t, o)
	e.load(t, v1())
	e.bind(t)
	for _, path := range []string{db, filepath.Join(upload, "other.bin"), bins.v1, "/etc/passwd", os.Args[0]} {
		if got := ask(t, e, "open:"+path, "open"); !strings.Contains(got, "permission denied") {
			t.Errorf("the bizpack opening %s: %q, want permission denied", path, got)
		}
	}
	// What it needs is there: its temporary directory, and its calls.
	if got := ask(t, e, "tmp", "tmp"); got != "created" {
		t.Errorf("the bizpack's own temporary directory: %q", got)
	}
	wantAllowedBy(t, e.begin(t), "1.0.0")
	wantPricedBy(t, e, "1.0.0")
}

// A bizpack of an unprivileged user (a root server's RunAs) is confined
// as well: with Landlock off, that user could read the open database; with
// it, not. A server that is not root applies the same Landlock (see
// TestTheHostsEnvironmentIsNotReadableThroughProc, whose server runs as
// nobody).
func TestAnUnprivilegedBizpackCannotReadTheServersFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("RunAs needs a root host; TestABizpackCannotReadTheServersFiles covers a bizpack of the host's own (non-root) user")
	}
	if !landlockFS() {
		t.Skip("no Landlock in this kernel (or not Linux)")
	}
	_, db, _ := dataDir(t)
	for _, landlock := range []bool{false, true} {
		o := fast
		o.RunAs = &bizpackhost.User{UID: 65534, GID: 65534}
		o.NoLandlock = !landlock
		e := setup(t, o)
		s := v1()
		s.Dir = "/"
		e.load(t, s)
		e.bind(t)
		got := ask(t, e, "open:"+db, "open")
		if denied := strings.Contains(got, "permission denied"); denied != landlock {
			t.Fatalf("nobody's bizpack opening the database, Landlock %v: %q", landlock, got)
		}
		e.h.Close()
	}
}

func TestLandlockHoldsWithoutResourceLimits(t *testing.T) {
	if !landlockFS() {
		t.Skip("no Landlock in this kernel (or not Linux)")
	}
	_, db, _ := dataDir(t)
	o := fast
	o.Limits.Off = true
	e := setup(t, o)
	e.load(t, v1())
	e.bind(t)
	if got := ask(t, e, "open:"+db, "open"); !strings.Contains(got, "permission denied") {
		t.Fatalf("opening the database with limits off: %q", got)
	}
}

func TestOnlyABizpackThatAsksForTheNetworkGetsIt(t *testing.T) {
	if runtime.GOOS != "linux" || bizpackhost.LandlockABI() < 4 {
		t.Skip("this kernel's Landlock has no TCP rules (ABI < 4, or not Linux): the host warns that bizpacks' network is not restricted")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dial := "dial:" + l.Addr().String()

	e := setup(t, fast)
	e.load(t, v1())
	e.bind(t)
	if got := ask(t, e, dial, "dial"); !strings.Contains(got, "permission denied") {
		t.Fatalf("a bizpack without network connecting to %s: %q, want permission denied", l.Addr(), got)
	}

	e = setup(t, fast)
	s := v1()
	s.Args = []string{"--network"}
	e.load(t, s)
	e.bind(t)
	if got := ask(t, e, dial, "dial"); got != "connected" {
		t.Fatalf("a bizpack whose manifest asks for the network: %q, want connected", got)
	}
	// It is still confined to its files, and its restarts keep the network.
	if landlockFS() {
		if got := ask(t, e, "open:/etc/passwd", "open"); !strings.Contains(got, "permission denied") {
			t.Errorf("the networked bizpack opening /etc/passwd: %q", got)
		}
	}
	pid := e.h.Pids()[0]
	_, _ = validate(e.begin(t), "exit")
	eventually(t, "restarted", func() bool {
		st := e.state(t)
		return st.Status == bizpackhost.StatusRunning && st.Pid != 0 && st.Pid != pid
	})
	if got := ask(t, e, dial, "dial"); got != "connected" {
		t.Fatalf("after a restart: %q, want connected", got)
	}
}

func TestCallsInFlightToABizpackAreCapped(t *testing.T) {
	o := fast
	o.MaxInFlight = 2
	e := setup(t, o)
	e.load(t, v1())
	req := func(buyer string) []kernel.RemoteCall {
		b, _ := json.Marshal(extensions.ValidateRequest{BizCode: "retail", Buyer: extensions.Buyer{ID: buyer},
			Lines: []extensions.Line{{SKU: "s", Quantity: 1, UnitPrice: 100}}})
		return []kernel.RemoteCall{{Point: extensions.OrderValidate, Identity: "retail", Request: b, Deadline: time.Minute}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan kernel.RemoteResult, 2)
	for range 2 {
		go func() { done <- bizpackhost.InvokeActive(e.h, "chaos", ctx, req("hang"))[0] }()
	}
	eventually(t, "two calls in flight", func() bool { return bizpackhost.InFlight(e.h, "chaos") == 2 })
	start := time.Now()
	r := bizpackhost.InvokeActive(e.h, "chaos", context.Background(), req("alice"))[0]
	if r.Outcome != kernel.OutcomeError || !errors.Is(r.Err, bizpackhost.ErrBusy) {
		t.Fatalf("a third call = %+v, want ErrBusy", r)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the refused call took %s: it must fail at once", took)
	}
	cancel()
	for range 2 {
		<-done
	}
	eventually(t, "nothing in flight", func() bool { return bizpackhost.InFlight(e.h, "chaos") == 0 })
	if r := bizpackhost.InvokeActive(e.h, "chaos", context.Background(), req("alice"))[0]; r.Outcome != kernel.OutcomeOK {
		t.Fatalf("a call once the others are done = %+v", r)
	}
}

func TestTheSandboxLineSaysWhatIsInForce(t *testing.T) {
	for _, off := range []bool{false, true} {
		var logs lockedBuffer
		o := fast
		o.NoLandlock = off
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		e := setup(t, o)
		e.h.Close()
		got := logs.String()
		var want []string
		switch {
		case off:
			want = []string{`level=WARN msg="bizpacks run without Landlock (NoLandlock)`, `filesystem="not restricted"`, `network="not restricted"`}
		case !landlockFS():
			want = []string{`level=WARN msg="no Landlock in this kernel`, `filesystem="not restricted"`}
		default:
			want = []string{`filesystem="landlock ABI `, `maxInFlight=64`, `brokerStream=refused`}
			if bizpackhost.LandlockABI() >= 4 {
				want = append(want, `network="landlock ABI `)
			}
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("NoLandlock %v: the log lacks %s:\n%s", off, w, got)
			}
		}
	}
}

// A call refused for the cap leaves the breakers as they were: a breaker
// due for its half-open trial still gets one once the cap allows.
func TestACallRefusedForTheCapTakesNoBreakerTrial(t *testing.T) {
	o := fast
	o.MaxInFlight = 1
	e := setup(t, o)
	e.load(t, v1())
	e.bind(t)
	for range 3 {
		_, _ = validate(e.begin(t), "fail")
	}
	if st := e.state(t); pointBreaker(st, extensions.OrderValidate) != "open" {
		t.Fatalf("state %+v, want validate's breaker open", st)
	}
	b, _ := json.Marshal(extensions.PriceSheet{BizCode: "retail", Currency: "CNY", Buyer: extensions.Buyer{ID: "hang"},
		Lines: []extensions.Line{{SKU: "s", Quantity: 1, UnitPrice: 100}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		bizpackhost.InvokeActive(e.h, "chaos", ctx, []kernel.RemoteCall{{Point: extensions.PricingAdjust, Identity: "retail", Request: b, Deadline: time.Minute}})
	}()
	eventually(t, "a call in flight", func() bool { return bizpackhost.InFlight(e.h, "chaos") == 1 })
	time.Sleep(150 * time.Millisecond) // past the breaker's cooldown (100ms)
	_, err := validate(e.begin(t), "alice")
	if ee := wantFailure(t, err, kernel.OutcomeError); !errors.Is(ee, bizpackhost.ErrBusy) {
		t.Fatalf("cause %v, want ErrBusy", ee.Cause)
	}
	cancel()
	<-done
	eventually(t, "the trial call goes through and closes the breaker", func() bool {
		d, err := validate(e.begin(t), "alice")
		return err == nil && d.Allowed
	})
}

// tmfd always has a RunDir: its RunAs user must reach its copy there.
func TestBizpacksRunAsTheConfiguredUserFromTheRunDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running bizpacks as another user needs a root host")
	}
	o := fast
	o.RunAs = &bizpackhost.User{UID: 65534, GID: 65534}
	o.RunDir = filepath.Join(openDir(t), "run")
	e := setup(t, o)
	s := v1()
	s.Dir = "/"
	e.load(t, s)
	e.bind(t)
	wantAllowedBy(t, e.begin(t), "1.0.0")
}

// Landlock up to ABI 8 does not cover UDP or connecting to a pathname unix
// socket (PostgreSQL's, with trust authentication, is one): the seccomp
// filter does, for a bizpack without the network. One that asks for the
// network keeps both.
func TestABizpackWithoutNetworkReachesNoSocket(t *testing.T) {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skip("the seccomp filter is for Linux on amd64 and arm64")
	}
	dir := openDir(t)
	sock := filepath.Join(dir, "db.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_ = os.Chmod(sock, 0o777)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for _, network := range []bool{false, true} {
		e := setup(t, fast)
		s := v1()
		if network {
			s.Args = []string{"--network"}
		}
		e.load(t, s)
		e.bind(t)
		for _, try := range []string{"unix:" + sock, "udp:" + u.LocalAddr().String()} {
			got := ask(t, e, try, "dial")
			if denied := strings.Contains(got, "permission denied"); denied == network {
				t.Errorf("network %v, %s: %q", network, try, got)
			}
		}
		e.h.Close()
	}
}
