package bizpackhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/plugin"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// Errors a call gets instead of an answer when the bizpack cannot take it;
// the point's failure policy then applies.
var (
	// ErrBreakerOpen: the bizpack failed too often lately; calls are not
	// sent until its breaker lets a trial through.
	ErrBreakerOpen = errors.New("bizpack circuit breaker is open")
	// ErrNotRunning: the bizpack's process is not up (starting, restarting
	// after a crash, stopped).
	ErrNotRunning = errors.New("bizpack process is not running")
	// ErrBusy: Options.MaxInFlight round trips to the bizpack are already
	// under way; the call is not sent.
	ErrBusy = errors.New("too many calls in flight to the bizpack")
)

// Status values of an instance.
const (
	StatusStarting   = "starting"
	StatusRunning    = "running"
	StatusRestarting = "restarting"
	StatusRefused    = "refused"
	StatusStopped    = "stopped"
	// StatusIdle is a bizpack that is configured (start: demand) but not
	// started: no configuration has bound it yet. It starts when one does.
	StatusIdle = "idle"
)

// instance is one version of one bizpack: a supervised process that is
// restarted with backoff when it exits or its breaker opens. It is the
// kernel.Remote of that version's implementations, so operations that began
// on it finish on it even after a newer version took over.
type instance struct {
	spec     Spec
	opts     Options
	log      *slog.Logger
	manifest extensions.Manifest
	lat      *latencies
	trips    atomic.Int64
	checking atomic.Bool // a health check is under way
	logw     *logWriter
	inflight chan struct{} // a token per round trip under way (MaxInFlight)

	mu        sync.Mutex
	proc      *plugin.Process
	sock      string              // proc's socket directory
	cg        *bizpackCgroup      // proc's cgroups (nil: none)
	network   bool                // its manifest asks for the network
	breakers  map[string]*breaker // per point
	status    string
	since     time.Time
	restarts  int
	lastErr   string
	standby   string // set by the host for display
	restart   chan struct{}
	stop      chan struct{}
	stopped   chan struct{}
	firstUp   chan error // answered once: the first start's result
	firstOnce sync.Once
}

func newInstance(spec Spec, o Options, log *slog.Logger) *instance {
	return &instance{spec: spec, opts: o, log: log.With("bizpack", spec.Name, "path", spec.Path),
		logw:     newLogWriter(o.Logger, spec.Name, o.LogRate),
		inflight: make(chan struct{}, max(o.MaxInFlight, 1)),
		status:   StatusStarting, since: time.Now(),
		restart: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}),
		firstUp: make(chan error, 1)}
}

// run supervises the process until stop: start, wait for an exit or a
// restart request, back off, start again. A binary whose checksum or
// manifest is refused is not retried.
func (in *instance) run() {
	defer close(in.stopped)
	backoff := in.opts.MinBackoff
	for {
		started := time.Now()
		err := in.startOnce()
		// The status is set before the first start is reported, so that
		// whoever waited for it reads the state it reports.
		var refused *refusedError
		switch {
		case errors.As(err, &refused):
			in.setStatus(StatusRefused, err)
		case err == nil:
			in.setStatus(StatusRunning, nil)
		}
		in.firstOnce.Do(func() { in.firstUp <- err })
		if refused != nil {
			in.log.Error("bizpack refused", "error", err)
			<-in.stop
			return
		}
		if err == nil {
			err = in.wait()
			if err == errStopping {
				in.kill()
				in.setStatus(StatusStopped, nil)
				return
			}
			in.kill()
			if time.Since(started) > in.opts.StableAfter {
				backoff = in.opts.MinBackoff
			}
		}
		in.mu.Lock()
		in.restarts++
		in.mu.Unlock()
		in.setStatus(StatusRestarting, err)
		in.log.Warn("bizpack restarting", "error", err, "backoff", backoff)
		select {
		case <-in.stop:
			in.setStatus(StatusStopped, nil)
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, in.opts.MaxBackoff)
	}
}

var errStopping = errors.New("stopping")

// refusedError is a start that must not be retried: the binary is not the
// configured one, or its manifest is not what the configuration expects.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

func (in *instance) startOnce() error {
	if in.opts.execDir == "" {
		return errors.New("the host has no directory to run bizpack binaries from")
	}
	in.mu.Lock()
	ranBefore := in.manifest.Name != ""
	in.mu.Unlock()
	l, err := in.opts.prepare(in.spec, ranBefore)
	if err != nil {
		if checksumRefusal(err) {
			return &refusedError{err}
		}
		return err
	}
	path := l.exec
	if l.dir != "" {
		err = in.opts.shareCopy(in.opts.execDir, l.dir)
	} else {
		err = in.opts.shareCopy(in.opts.execDir, path)
	}
	if err != nil {
		return fmt.Errorf("giving the binary to the bizpack's user: %w", err)
	}
	// A socket directory of its own, also its TMPDIR: the only place it
	// may write (with Landlock), and where no other bizpack looks.
	sock, err := os.MkdirTemp(in.opts.sockDir, "b")
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	keepSock := false
	defer func() {
		if !keepSock {
			_ = os.RemoveAll(sock)
		}
	}()
	if u := in.opts.RunAs; u != nil {
		if err := os.Chown(sock, int(u.UID), int(u.GID)); err != nil {
			return fmt.Errorf("giving the socket directory to the bizpack's user: %w", err)
		}
	}
	// Its cgroups, made before it starts and removed when it stops.
	cg, err := in.opts.cgroups.newGroup(in.spec.Name, in.opts.Limits, in.opts.RunAs)
	if err != nil {
		return err
	}
	defer func() {
		if !keepSock {
			cg.remove()
		}
	}()
	env := append(in.spec.environ(), "TMPDIR="+sock, "PLUGIN_UNIX_SOCKET_DIR="+sock)
	if _, set := in.spec.Env["PATH"]; l.dir != "" && !set {
		env = append(env, sanePath(l.exec))
	}
	var wrapper []string
	var confined *landlockSpec
	netBlocked := false // by Landlock or seccomp
	if shim := in.opts.shim(); shim != "" {
		if err := in.opts.shareCopy(in.opts.execDir, shim); err != nil {
			return fmt.Errorf("giving the shim to the bizpack's user: %w", err)
		}
		wrapper = []string{shim}
		in.mu.Lock()
		network := in.network || in.opts.Network
		in.mu.Unlock()
		if in.opts.abi > 0 {
			confined = &landlockSpec{Exec: path, Sock: sock, ReadWrite: in.spec.ReadWrite, Network: network}
			if l.dir != "" {
				confined.ReadOnly = append([]string{l.dir}, interpreterDirs[l.interp]...)
			}
		}
		seccomp := !network && !in.opts.NoLandlock
		netBlocked = seccomp || confined != nil && !confined.Network
		env = append(env, shimEnviron(in.opts.fallback(in.opts.cgroups), confined, seccomp, cg.join()...))
	}
	dir := in.spec.Dir
	if dir == "" {
		dir = l.dir
	}
	tail := newStderrTail()
	release := func() {}
	prepare := func(cmd *exec.Cmd) (err error) {
		if err := in.opts.runAs(cmd); err != nil {
			return err
		}
		release, err = cg.prepare(cmd)
		return err
	}
	p, err := plugin.Start(plugin.Options{Path: path, Prepare: prepare, Wrapper: wrapper, Args: append(l.args, in.spec.Args...), SHA256: l.sum,
		Env: env, Dir: dir, Logger: in.logw.logger(), Stderr: newStderrLines(in.logw, tail), KillGrace: in.opts.KillGrace})
	release()
	if err != nil {
		if errors.Is(err, plugin.ErrChecksum) {
			return &refusedError{err}
		}
		return tail.explain(fmt.Errorf("handshake failed: %w", err))
	}
	if in.opts.RunDir != "" {
		if err := recordGroup(in.opts.RunDir, p.Pid()); err != nil {
			in.log.Warn("process group not recorded: its children may outlive a killed host", "error", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), in.opts.HealthTimeout)
	defer cancel()
	m, major, _, err := p.Conn().Describe(ctx)
	if err == nil && major != extensions.ProtocolMajor {
		err = &refusedError{fmt.Errorf("bizpack speaks protocol %d, the server %d", major, extensions.ProtocolMajor)}
	}
	if err == nil && m.Name != in.spec.Name {
		err = &refusedError{fmt.Errorf("binary %s is bizpack %q, the configuration names it %q", in.spec.Path, m.Name, in.spec.Name)}
	}
	if err == nil && in.manifest.Name != "" && m.Version != in.manifest.Version {
		err = &refusedError{fmt.Errorf("binary %s changed from version %s to %s under a running bizpack", in.spec.Path, in.manifest.Version, m.Version)}
	}
	if err == nil {
		err = p.Conn().Health(ctx)
		if errors.Is(err, plugin.ErrNoHealthService) {
			err = &refusedError{err} // the binary will not grow one
		}
	}
	if err != nil {
		p.Kill()
		if in.opts.RunDir != "" {
			forgetGroup(in.opts.RunDir, p.Pid())
		}
		return tail.explain(err)
	}
	if m.Network && netBlocked {
		// Its manifest asks for the network, which only the host's
		// first start of it could not know: start it again with it.
		p.Kill()
		if in.opts.RunDir != "" {
			forgetGroup(in.opts.RunDir, p.Pid())
		}
		in.mu.Lock()
		in.network = true
		in.mu.Unlock()
		in.log.Info("bizpack asks for the network (manifest): starting it again with TCP allowed")
		_ = os.RemoveAll(sock)
		return in.startOnce()
	}
	keepSock = true
	in.mu.Lock()
	in.proc, in.sock, in.cg = p, sock, cg
	if in.manifest.Name == "" {
		in.manifest = m
		points := make([]string, len(m.Points))
		for i, pt := range m.Points {
			points[i] = pt.Point
		}
		in.lat = newLatencies(points)
	}
	in.mu.Unlock()
	return nil
}

// wait returns when the process exits (an error), a restart is asked for,
// or the instance is stopped (errStopping).
func (in *instance) wait() error {
	t := time.NewTicker(in.opts.ExitPoll)
	defer t.Stop()
	for {
		select {
		case <-in.stop:
			return errStopping
		case <-in.restart:
			return errors.New("restarted after it failed its health check")
		case <-t.C:
			in.mu.Lock()
			p, cg := in.proc, in.cg
			in.mu.Unlock()
			if p != nil && p.Exited() {
				if cg.oomKills() > 0 {
					return fmt.Errorf("process exited: killed by the OOM killer at its memory limit (%d bytes)", in.opts.Limits.Memory)
				}
				return errors.New("process exited")
			}
		}
	}
}

func (in *instance) kill() {
	in.mu.Lock()
	p, sock, cg := in.proc, in.sock, in.cg
	in.proc, in.sock, in.cg = nil, "", nil
	in.mu.Unlock()
	if p != nil {
		p.Kill()
		if in.opts.RunDir != "" {
			forgetGroup(in.opts.RunDir, p.Pid())
		}
	}
	cg.remove() // what escaped its process group, then the group
	if sock != "" {
		_ = os.RemoveAll(sock)
	}
}

func (in *instance) setStatus(s string, err error) {
	in.mu.Lock()
	change := StatusChange{Name: in.spec.Name, Version: in.manifest.Version, From: in.status, To: s}
	if in.status != s {
		in.status, in.since = s, time.Now()
		change.At = in.since
	}
	if err != nil {
		in.lastErr = kernel.ClipText(err.Error())
		change.Error = in.lastErr
	}
	in.mu.Unlock()
	if change.From != change.To && in.opts.OnStatus != nil {
		in.opts.OnStatus(change)
	}
}

// StatusChange is one change of a bizpack process's status, as
// Options.OnStatus receives it.
type StatusChange struct {
	Name    string
	Version string // the manifest's version, "" before the first start answered
	From    string
	To      string
	// Error is why, for restarting and refused.
	Error string
	At    time.Time
}

// shutdown stops the supervisor and the process and waits for both.
func (in *instance) shutdown() {
	select {
	case <-in.stop:
	default:
		close(in.stop)
	}
	<-in.stopped
}

// Invoke sends calls to the process in one round trip; see kernel.Remote.
// Each point has its own breaker: a call whose point's breaker is open is
// answered ErrBreakerOpen at once (its point's failure policy applies) and
// the batch's other calls still go.
func (in *instance) Invoke(ctx context.Context, calls []kernel.RemoteCall) []kernel.RemoteResult {
	out := make([]kernel.RemoteResult, len(calls))
	in.mu.Lock()
	p := in.proc
	in.mu.Unlock()
	if p == nil {
		for i := range out {
			out[i] = kernel.RemoteResult{Outcome: kernel.OutcomeError, Err: ErrNotRunning}
		}
		return out
	}
	// One round trip, one stream: at most MaxInFlight of them to a
	// process, whatever the callers or the process do. Taken before the
	// breakers are asked, so that a refused batch leaves no half-open
	// trial waiting for an outcome.
	select {
	case in.inflight <- struct{}{}:
		defer func() { <-in.inflight }()
	default:
		for i := range out {
			out[i] = kernel.RemoteResult{Outcome: kernel.OutcomeError, Err: fmt.Errorf("bizpack %s: %w (%d)", in.spec.Name, ErrBusy, cap(in.inflight))}
		}
		return out
	}
	now := time.Now()
	var sent []int // indexes into calls of those sent
	wcalls := make([]plugin.Call, 0, len(calls))
	for i, c := range calls {
		if !in.breakerOf(c.Point).allow(now) {
			out[i] = kernel.RemoteResult{Outcome: kernel.OutcomeError, Err: ErrBreakerOpen}
			continue
		}
		sent = append(sent, i)
		wcalls = append(wcalls, plugin.Call{Point: c.Point, Identity: c.Identity, Request: c.Request, Timeout: c.Deadline})
	}
	if len(sent) == 0 {
		return out
	}
	ctx, span, who := in.roundTripSpan(ctx, p, wcalls)
	start := time.Now()
	in.trips.Add(1)
	res, spans, err := p.Conn().InvokeTraced(ctx, wcalls)
	took := time.Since(start)
	in.endRoundTrip(span, who, start, start.Add(took), spans, err)
	if err != nil {
		cerr := ctx.Err()
		if cerr != nil && !errors.Is(cerr, context.DeadlineExceeded) {
			for _, i := range sent {
				out[i] = kernel.RemoteResult{Outcome: kernel.OutcomeError, Err: cerr} // the caller gave up: not the bizpack's failure
			}
			return out
		}
		o := kernel.OutcomeError
		// The deadline may reach the bizpack's end of the stream before
		// this context notices it: both are a timeout.
		if cerr != nil || errors.Is(err, context.DeadlineExceeded) {
			o, err = kernel.OutcomeTimeout, kernel.ErrDeadline
		} else {
			err = fmt.Errorf("bizpack %s: %w", in.spec.Name, err)
		}
		for _, i := range sent {
			in.lat.record(calls[i].Point, took, true)
			in.report(calls[i].Point, false)
			out[i] = kernel.RemoteResult{Outcome: o, Err: err}
		}
		// A missed deadline or a broken stream may be a busy host or a
		// process that is gone or wedged: the health check tells.
		in.checkHealth(p)
		return out
	}
	timedOut := false
	for j, r := range res {
		if j >= len(sent) {
			break
		}
		i := sent[j]
		var rr kernel.RemoteResult
		switch r.Outcome {
		case plugin.OK:
			rr = kernel.RemoteResult{Outcome: kernel.OutcomeOK, Response: r.Response}
		case plugin.Skip:
			rr = kernel.RemoteResult{Outcome: kernel.OutcomeSkip}
		case plugin.Panic:
			rr = kernel.RemoteResult{Outcome: kernel.OutcomePanic, Err: errors.New(kernel.ClipText(r.Err))}
		case plugin.Timeout:
			rr = kernel.RemoteResult{Outcome: kernel.OutcomeTimeout, Err: kernel.ErrDeadline}
			timedOut = true
		default:
			rr = kernel.RemoteResult{Outcome: kernel.OutcomeError, Err: fmt.Errorf("bizpack %s: %s: %s", in.spec.Name, r.Outcome, kernel.ClipText(r.Err))}
		}
		failed := rr.Outcome.Failed()
		in.lat.record(calls[i].Point, took, failed)
		in.report(calls[i].Point, !failed)
		out[i] = rr
	}
	if timedOut {
		in.checkHealth(p)
	}
	return out
}

// breakerOf is the breaker of one point of this bizpack.
func (in *instance) breakerOf(point string) *breaker {
	in.mu.Lock()
	defer in.mu.Unlock()
	b := in.breakers[point]
	if b == nil {
		if in.breakers == nil {
			in.breakers = map[string]*breaker{}
		}
		b = newBreaker(in.opts.BreakerFailures, in.opts.BreakerCooldown, in.opts.MaxBreakerCooldown)
		in.breakers[point] = b
	}
	return b
}

// report feeds a point's breaker. An opened breaker does not restart the
// process: a failing implementation is that point's problem, and its
// failure policy applies while the breaker is open.
func (in *instance) report(point string, ok bool) {
	if in.breakerOf(point).report(ok, time.Now()) {
		in.log.Warn("bizpack point circuit breaker opened", "point", point)
	}
}

// checkHealth asks the process whether it is still serving, at most one
// check at a time, and restarts it if it does not answer within
// HealthTimeout: a process that is stopped, wedged or gone. A process
// that answers is left alone, whatever its calls did: deadline misses on a
// busy host are no reason for a restart.
func (in *instance) checkHealth(p *plugin.Process) {
	if !in.checking.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer in.checking.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), in.opts.HealthTimeout)
		defer cancel()
		err := p.Conn().Health(ctx)
		if err == nil || p.Exited() {
			return // healthy, or the exit watch restarts it
		}
		in.mu.Lock()
		current := in.proc == p
		in.mu.Unlock()
		if !current {
			return
		}
		in.log.Warn("bizpack failed its health check: restarting", "error", err)
		select {
		case in.restart <- struct{}{}:
		default:
		}
	}()
}

// BizpackState reports the instance for the admin console.
func (in *instance) BizpackState() kernel.BizpackState {
	in.mu.Lock()
	defer in.mu.Unlock()
	overall := closed
	for _, b := range in.breakers {
		// open beats half-open beats closed
		if c := b.current(); c == open || (c == halfOpen && overall == closed) {
			overall = c
		}
	}
	st := kernel.BizpackState{Name: in.spec.Name, Version: in.manifest.Version, Status: in.status,
		Breaker: overall.String(), Restarts: in.restarts, LastError: in.lastErr, Since: in.since,
		Standby: in.standby, RoundTrips: in.trips.Load(), LogLinesDropped: in.logw.dropped.Load(),
		Sandbox: in.opts.mechanism()}
	if in.proc != nil {
		st.Pid = in.proc.Pid()
	}
	if in.lat != nil {
		st.Points = in.lat.summary()
		for i := range st.Points {
			st.Points[i].Breaker = closed.String()
			if b := in.breakers[st.Points[i].Point]; b != nil {
				st.Points[i].Breaker = b.current().String()
			}
		}
	}
	return st
}

func (in *instance) pid() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.proc == nil {
		return 0
	}
	return in.proc.Pid()
}
