// Package bizpackhost runs bizpacks: business teams' plugins, each a
// separate binary, started over hashicorp/go-plugin's gRPC transport with
// automatic mutual TLS, after its SHA-256 checksum is verified, without the
// server's environment.
//
// The host supervises each bizpack: a process that exits, or that fails
// the health check a missed deadline triggers, is restarted with
// exponential backoff; each point of a bizpack has its own circuit breaker,
// which cuts that point off after repeated failures (its calls then follow
// the point's failure policy at once) without touching the process or the
// other points; every call carries its point's deadline and the caller's
// cancellation. Stopping a bizpack takes at most about twice KillGrace and
// ends its whole process group. A new version is started beside the running one and takes
// new operations only once healthy; operations already begun finish on the
// version they began with, and the previous version stays up so that a
// rollback is one call. Close ends every process; a server that dies
// without closing takes its bizpacks with it (the kernel kills them on
// Linux, and a bizpack exits when it sees it has been orphaned).
package bizpackhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tmf-platform/tmf/extensions/plugin"
	"github.com/tmf-platform/tmf/platform/kernel"
)

// Spec configures one bizpack binary.
type Spec struct {
	// Name is the bizpack's name; the binary's manifest must say the same.
	Name string `json:"name"`
	// Path of the binary.
	Path string `json:"path"`
	// SHA256 of the binary, in hex (tmfctl bizpack sum PATH). Required.
	SHA256 string `json:"sha256"`
	// Args are passed to the binary.
	Args []string `json:"args,omitempty"`
	// Env is the bizpack's whole environment: the server's own is never
	// passed on.
	Env map[string]string `json:"env,omitempty"`
	// Dir is its working directory.
	Dir string `json:"dir,omitempty"`
	// Start is "boot" (started with the server) or "demand" (started when
	// a configuration binds it; the default).
	Start string `json:"start,omitempty"`
	// ReadWrite are directories the bizpack may read and write besides
	// its own (Landlock, Linux): by default it sees nothing of the
	// filesystem but its binary, a private temporary directory and the
	// system's libraries. Never the server's data directory.
	ReadWrite []string `json:"readWrite,omitempty"`
}

func (s Spec) environ() []string {
	out := make([]string, 0, len(s.Env))
	for k, v := range s.Env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func (s Spec) check() error {
	var problems []string
	if s.Name == "" {
		problems = append(problems, "name is required")
	}
	if s.Path == "" {
		problems = append(problems, "path is required")
	}
	if len(strings.TrimSpace(s.SHA256)) != 64 {
		problems = append(problems, "sha256 must be the binary's 64-hex-digit SHA-256 (tmfctl bizpack sum PATH)")
	}
	if s.Start != "" && s.Start != "boot" && s.Start != "demand" {
		problems = append(problems, fmt.Sprintf("start %q must be \"boot\" or \"demand\"", s.Start))
	}
	for _, d := range s.ReadWrite {
		if !filepath.IsAbs(d) {
			problems = append(problems, fmt.Sprintf("readWrite %q must be an absolute path", d))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("bizpack %q: %s", s.Name, strings.Join(problems, "; "))
	}
	return nil
}

// Options tune the host. Zero fields take the defaults in parentheses.
type Options struct {
	// Logger receives the host's events and the bizpacks' log lines
	// (discarded).
	Logger *slog.Logger
	// BreakerFailures in a row open the breaker of one point of a
	// bizpack (5).
	BreakerFailures int
	// BreakerCooldown is how long an opened breaker refuses calls before a
	// trial (1s); it doubles with each opening in a row up to
	// MaxBreakerCooldown (30s).
	BreakerCooldown, MaxBreakerCooldown time.Duration
	// MinBackoff and MaxBackoff bound the wait before a restart (100ms,
	// 10s); it doubles with each restart in a row and resets once a process
	// stayed up StableAfter (30s).
	MinBackoff, MaxBackoff, StableAfter time.Duration
	// HealthTimeout bounds a new process's describe and health check (5s).
	HealthTimeout time.Duration
	// ReadyTimeout bounds Load's wait for a new version to be healthy (15s).
	ReadyTimeout time.Duration
	// ExitPoll is how often a process is checked for having exited (100ms).
	ExitPoll time.Duration
	// Drain is how long a replaced standby version keeps running for the
	// operations that began on it (30s).
	Drain time.Duration
	// LogRate is how many log lines a second a bizpack may send to the
	// host's log, in bursts of up to twice that; the rest are dropped and
	// counted (50). Each line is cut to 1 KiB.
	LogRate int
	// KillGrace is how long a stopping bizpack may take to exit by itself
	// before its whole process group is killed (2s). Stopping or
	// restarting a bizpack takes at most about twice this, whatever the
	// bizpack does.
	KillGrace time.Duration
	// RunDir is a directory the host owns (tmfd: <data dir>/bizpacks) where
	// it records the process group of every bizpack it runs. A host that
	// was killed without closing leaves the records behind, and the next
	// host started on the same RunDir ends the processes they name (a
	// bizpack's children outlive it otherwise). Empty: no records.
	RunDir string

	// Limits are applied to each bizpack process before its first
	// instruction (Linux; see Limits for the defaults).
	Limits Limits
	// RunAs, when set, is the user the bizpacks run as (Linux; the host
	// must be root). A host that runs as root without it runs its
	// bizpacks as root, and says so in its log at start.
	RunAs *User
	// NoLandlock runs bizpacks without Landlock: their filesystem and
	// network are then not restricted (logged at start).
	NoLandlock bool
	// Interpreters are the interpreters a bundle may name (see
	// BundleManifest), by name, each an absolute path: {"node":
	// "/usr/bin/node"}. A bundle naming another is refused (ErrInterpreter);
	// none are allowed by default.
	Interpreters map[string]string
	// Network gives every bizpack the network, whether its manifest asks
	// or not (by default only those that ask get it, where Landlock can
	// restrict TCP).
	Network bool
	// NoCgroups limits bizpacks with rlimits and nice only, even where
	// the host could make cgroups (logged at start).
	NoCgroups bool
	// MaxInFlight caps the round trips in flight to one bizpack process
	// (64): a call beyond it fails at once with ErrBusy, the point's
	// failure policy applying, instead of opening another stream.
	MaxInFlight int
	// OnStatus, when set, is called with every change of a bizpack
	// process's status (starting, running, restarting, refused, stopped),
	// from the goroutine that supervises it, after the change: it must
	// return quickly (tmfd writes one outbox row, bizpack.status_changed).
	OnStatus func(StatusChange)

	execDir string       // where binaries are copied to run (see execCopy)
	sockDir string       // where each bizpack process gets its socket directory
	abi     int          // the kernel's Landlock ABI (0: none, or NoLandlock)
	cgroups *cgroupSetup // where bizpacks get cgroups (nil: none)
	shimAt  *shimState   // shared by the copies of a host's options
}

type shimState struct {
	once sync.Once
	path string
}

// Limits bound a bizpack process. A shim (the host's own binary, copied
// beside the bizpacks) applies them in the bizpack's process and then
// executes the bizpack there. Zero fields take the defaults in
// parentheses; a limit cannot be raised from inside.
type Limits struct {
	// OpenFiles is RLIMIT_NOFILE (1024).
	OpenFiles uint64 `json:"openFiles,omitempty"`
	// AddressSpace is RLIMIT_AS in bytes (4 GiB): the bizpack's memory,
	// virtual, so it must leave room for a Go runtime's reservations.
	AddressSpace uint64 `json:"addressSpace,omitempty"`
	// Memory is the bizpack's memory in bytes (1 GiB): its cgroup's
	// memory limit (swap included), beyond which the kernel's OOM killer
	// ends it and the host restarts it; without a memory cgroup,
	// RLIMIT_DATA (its allocations fail and a Go bizpack exits).
	Memory uint64 `json:"memory,omitempty"`
	// CPUWeight is the bizpack's CPU share, 1 to 10000, against 100 for
	// a process of niceness 0 such as the server's (100): cgroup
	// cpu.weight (v1: cpu.shares scaled from 1024), which counts the whole
	// bizpack, all its threads and children, as one; without a cpu
	// cgroup, a niceness of about the same ratio (unless Nice is set),
	// which applies to each of its threads.
	CPUWeight uint64 `json:"cpuWeight,omitempty"`
	// CPUMax caps the bizpack's CPU time in thousandths of a core (none):
	// cgroup cpu.max (v1: cfs quota). Not enforced without a cpu cgroup.
	CPUMax uint64 `json:"cpuMax,omitempty"`
	// Processes caps the bizpack's processes and threads (512): cgroup
	// pids.max; without a pids cgroup, RLIMIT_NPROC, and only with
	// RunAs (it counts every process of the user, and root ignores it).
	Processes uint64 `json:"processes,omitempty"`
	// Nice is the bizpack's niceness, 0 to 19 (0; derived from CPUWeight
	// when no cpu cgroup applies): its CPU share against the server's.
	Nice int `json:"nice,omitempty"`
	// Off runs bizpacks without the shim and without limits.
	Off bool `json:"off,omitempty"`
}

// User is a numeric user and group.
type User struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = 5
	}
	def(&o.BreakerCooldown, time.Second)
	def(&o.MaxBreakerCooldown, 30*time.Second)
	def(&o.MinBackoff, 100*time.Millisecond)
	def(&o.MaxBackoff, 10*time.Second)
	def(&o.StableAfter, 30*time.Second)
	def(&o.HealthTimeout, 5*time.Second)
	def(&o.ReadyTimeout, 15*time.Second)
	def(&o.ExitPoll, 100*time.Millisecond)
	def(&o.Drain, 30*time.Second)
	def(&o.KillGrace, 2*time.Second)
	if o.LogRate <= 0 {
		o.LogRate = 50
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 64
	}
	if o.Limits.OpenFiles == 0 {
		o.Limits.OpenFiles = 1024
	}
	if o.Limits.AddressSpace == 0 {
		o.Limits.AddressSpace = 4 << 30
	}
	o.Limits = o.Limits.withDefaults()
	return o
}

// logWriter forwards go-plugin's log lines (and the bizpack's stderr) of
// one bizpack to the host's logger: each line cut to kernel.MaxText bytes,
// at most LogRate lines a second (a burst of twice that), the rest counted
// and dropped; the next line let through says how many were dropped.
type logWriter struct {
	log  *slog.Logger
	name string
	rate float64

	mu      sync.Mutex
	tokens  float64
	last    time.Time
	pending int64        // dropped since the last line let through
	dropped atomic.Int64 // dropped in all
}

func newLogWriter(log *slog.Logger, name string, rate int) *logWriter {
	return &logWriter{log: log, name: name, rate: float64(rate), tokens: 2 * float64(rate), last: time.Now()}
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.emit(slog.LevelWarn, string(p))
	return len(p), nil
}

// emit logs one line at level, within the rate limit.
func (w *logWriter) emit(level slog.Level, text string) {
	w.mu.Lock()
	now := time.Now()
	w.tokens = min(w.tokens+now.Sub(w.last).Seconds()*w.rate, 2*w.rate)
	w.last = now
	if w.tokens < 1 {
		w.pending++
		w.mu.Unlock()
		w.dropped.Add(1)
		return
	}
	w.tokens--
	dropped := w.pending
	w.pending = 0
	w.mu.Unlock()
	line := kernel.ClipText(strings.TrimRight(text, "\n"))
	if dropped > 0 {
		w.log.Log(context.Background(), level, "bizpack log", "bizpack", w.name, "line", line, "droppedBefore", dropped)
	} else {
		w.log.Log(context.Background(), level, "bizpack log", "bizpack", w.name, "line", line)
	}
}

func (w *logWriter) logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "bizpack." + w.name, Level: hclog.Warn, Output: w})
}

// Host runs the bizpacks of one server and keeps the kernel's registry in
// step with the versions in force.
type Host struct {
	k    *kernel.Kernel
	opts Options

	// ops serialises Load and Rollback, which may wait seconds for a
	// process; mu guards the fields below and is held only briefly, so
	// that States, Pids and Close never wait behind a starting bizpack.
	ops    sync.Mutex
	mu     sync.Mutex
	specs  map[string]Spec
	packs  map[string]*pack
	closed bool

	tempExec bool // opts.execDir is a temporary directory of this host
	tempSock bool // so is opts.sockDir
}

// shim returns the path of the host's copy of its own binary, the shim
// that limits and confines a bizpack before it runs, copying it on first
// use; "" and a logged warning when there is none (bizpacks then run
// unlimited and unconfined).
func (o Options) shim() string {
	st := o.shimAt
	st.once.Do(func() {
		if (o.Limits.Off && o.abi == 0) || shimEnviron(o.Limits, nil, false) == "" {
			o.Logger.Warn("bizpacks run without resource limits or Landlock", "limitsOff", o.Limits.Off, "landlockABI", o.abi)
			return
		}
		self, err := os.Executable()
		var sum string
		if err == nil {
			sum, err = Checksum(self)
		}
		if err == nil {
			st.path, err = execCopy(o.execDir, self, sum, true)
		}
		if err != nil {
			o.Logger.Warn("no shim to limit bizpacks: they run without resource limits or Landlock", "error", err)
		}
	})
	return st.path
}

// pack is one bizpack's versions: the active one and the previous one,
// kept running for a rollback.
type pack struct {
	active, previous *instance
	activeBP         kernel.Bizpack
	previousBP       kernel.Bizpack
	draining         []*instance
}

// New returns a host that registers bizpacks in k's registry. With a
// RunDir, it first ends the processes a previous host left there.
func New(k *kernel.Kernel, o Options) *Host {
	o = o.withDefaults()
	if o.RunDir != "" {
		err := os.MkdirAll(o.RunDir, 0o700)
		if err == nil && o.RunAs != nil {
			// RunAs's user runs its copy from RunDir/exec: it may pass
			// through, not list (its parents are the operator's to open).
			err = os.Chmod(o.RunDir, 0o711)
		}
		if err != nil {
			o.Logger.Warn("bizpack run directory unusable: process groups are not recorded", "dir", o.RunDir, "error", err)
			o.RunDir = ""
		} else if n := reapGroups(o.RunDir, o.Logger); n > 0 {
			o.Logger.Warn("ended processes left by a previous host", "count", n)
		}
	}
	if o.RunAs == nil && os.Geteuid() == 0 {
		o.Logger.Warn("bizpacks run as root: configure an unprivileged user for them (RunAs)")
	}
	fsRule, netRule := "not restricted", "not restricted"
	if !o.NoLandlock {
		o.abi = landlockABI()
	}
	switch {
	case o.NoLandlock:
		o.Logger.Warn("bizpacks run without Landlock (NoLandlock): their filesystem and network are not restricted")
	case o.abi == 0:
		o.Logger.Warn("no Landlock in this kernel (or not Linux): bizpacks' filesystem and network are not restricted")
	default:
		fsRule = fmt.Sprintf("landlock ABI %d: its binary, a private socket and temporary directory, system libraries, its readWrite", o.abi)
		if o.abi >= 4 {
			netRule = fmt.Sprintf("landlock ABI %d: no TCP connect or bind unless its manifest says network", o.abi)
		} else {
			o.Logger.Warn("this kernel's Landlock cannot restrict the network (ABI < 4): bizpacks' network is not restricted", "landlockABI", o.abi)
		}
	}
	o.cgroups = o.setupCgroups()
	h := &Host{k: k, opts: o, specs: map[string]Spec{}, packs: map[string]*pack{}}
	h.opts.shimAt = new(shimState)
	runAs := "the server's user"
	if o.RunAs != nil {
		runAs = fmt.Sprintf("uid %d gid %d", o.RunAs.UID, o.RunAs.GID)
	}
	limits := "off"
	if !o.Limits.Off {
		limits = fmt.Sprintf("openFiles %d, addressSpace %d, processes %d, nice %d", o.Limits.OpenFiles, o.Limits.AddressSpace, o.Limits.Processes, o.Limits.Nice)
	}
	// What protects the server from its bizpacks, and what does not.
	o.Logger.Info("bizpack sandbox", "processGroups", true, "groupRecords", o.RunDir != "", "runAs", runAs,
		"limits", limits, "serverDumpable", dumpable(), "filesystem", fsRule, "network", netRule,
		"maxInFlight", o.MaxInFlight, "brokerStream", "refused")
	// Binaries run from copies in a directory of the host's own: under
	// RunDir (emptied here: nothing of a predecessor runs any more), or a
	// temporary one removed by Close.
	if o.RunDir != "" && (o.RunAs == nil || reachable(o.RunDir)) {
		h.opts.execDir = filepath.Join(o.RunDir, "exec")
		removeTree(h.opts.execDir)
		if err := os.MkdirAll(h.opts.execDir, 0o700); err != nil {
			h.opts.execDir = ""
		}
	}
	if h.opts.execDir == "" {
		if dir, err := os.MkdirTemp("", "tmf-bizpack-exec-"); err == nil {
			h.opts.execDir, h.tempExec = dir, true
		} else {
			o.Logger.Error("no directory for bizpack binaries: every start will fail", "error", err)
		}
	}
	// Each bizpack process gets a socket directory of its own under
	// RunDir/sock, or under a temporary directory when RunDir is unset,
	// its path too long for a unix socket, or RunAs's user could not
	// traverse it.
	if o.RunDir != "" && o.RunAs == nil && len(o.RunDir) < 70 {
		h.opts.sockDir = filepath.Join(o.RunDir, "sock")
		_ = os.RemoveAll(h.opts.sockDir)
		if err := os.MkdirAll(h.opts.sockDir, 0o700); err != nil {
			h.opts.sockDir = ""
		}
	}
	if h.opts.sockDir == "" {
		if dir, err := os.MkdirTemp("", "tmf-bizpack-sock-"); err == nil {
			h.opts.sockDir, h.tempSock = dir, true
			if o.RunAs != nil {
				_ = os.Chmod(dir, 0o711)
			}
		} else {
			o.Logger.Error("no directory for bizpack sockets: every start will fail", "error", err)
		}
	}
	return h
}

// Configure declares the bizpacks the server may run and starts those
// marked start: boot. A bad spec refuses the whole list; a boot bizpack that
// fails to start is an error naming it (the others keep running).
func (h *Host) Configure(ctx context.Context, specs []Spec) error {
	seen := map[string]bool{}
	for _, s := range specs {
		if err := s.check(); err != nil {
			return err
		}
		if seen[s.Name] {
			return fmt.Errorf("bizpack %q is configured twice", s.Name)
		}
		seen[s.Name] = true
	}
	h.mu.Lock()
	for _, s := range specs {
		h.specs[s.Name] = s
	}
	h.mu.Unlock()
	var errs []error
	for _, s := range specs {
		if s.Start == "boot" {
			if _, err := h.Load(ctx, s); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Ensure starts, on demand, every configured bizpack that cfg binds and
// that is not running yet, so that cfg can compile. A bizpack cfg binds but
// the host does not know is left for the compile to report.
func (h *Host) Ensure(ctx context.Context, cfg kernel.Config) error {
	var errs []error
	for _, id := range cfg.Identities {
		for _, ref := range id.Bizpacks {
			h.mu.Lock()
			s, known := h.specs[ref.Name]
			_, loaded := h.packs[ref.Name]
			h.mu.Unlock()
			if known && !loaded {
				if _, err := h.Load(ctx, s); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Load starts spec's binary beside the version in force (if any) and, once
// it is healthy and its manifest checks against the catalogue, makes it the
// version in force: new operations use it, operations already begun finish
// on the old one, which stays up as the standby for Rollback. If the new
// version fails to start, fails its health check, or its manifest or the
// configuration it leads to is refused, the version in force is untouched
// and the new process is gone. It returns the new version's manifest
// version.
func (h *Host) Load(ctx context.Context, spec Spec) (string, error) {
	if err := spec.check(); err != nil {
		return "", err
	}
	h.ops.Lock()
	defer h.ops.Unlock()
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return "", errors.New("bizpack host is closed")
	}
	in := newInstance(spec, h.opts, h.opts.Logger)
	go in.run()
	wait, cancel := context.WithTimeout(ctx, h.opts.ReadyTimeout)
	defer cancel()
	var err error
	select {
	case err = <-in.firstUp:
	case <-wait.Done():
		err = fmt.Errorf("not healthy within %s", h.opts.ReadyTimeout)
	}
	if err != nil {
		in.shutdown()
		return "", fmt.Errorf("bizpack %s (%s): %w", spec.Name, spec.Path, err)
	}
	bp, err := kernel.RemoteBizpack(h.k.Catalogue(), in.manifest, in)
	if err != nil {
		in.shutdown()
		return "", err
	}
	h.mu.Lock()
	p, closed := h.packs[spec.Name], h.closed
	h.mu.Unlock()
	if closed {
		in.shutdown()
		return "", errors.New("bizpack host is closed")
	}
	if err := h.k.Registry().PutBizpack(bp); err != nil {
		in.shutdown()
		return "", err
	}
	if _, err := h.k.Recompile(); err != nil {
		// Put the version in force back (or take the new one out).
		if p != nil {
			_ = h.k.Registry().PutBizpack(p.activeBP)
		} else {
			h.k.Registry().RemoveBizpack(spec.Name)
		}
		in.shutdown()
		return "", fmt.Errorf("bizpack %s %s: the configuration in force does not compile with it: %w", spec.Name, in.manifest.Version, err)
	}
	h.mu.Lock()
	if h.closed { // closed while this version was put in force
		h.mu.Unlock()
		in.shutdown()
		return "", errors.New("bizpack host is closed")
	}
	if p == nil {
		p = &pack{}
		h.packs[spec.Name] = p
	}
	if p.previous != nil {
		h.drain(p, p.previous)
	}
	p.previous, p.previousBP = p.active, p.activeBP
	p.active, p.activeBP = in, bp
	h.specs[spec.Name] = spec
	h.markStandby(p)
	h.mu.Unlock()
	h.opts.Logger.Info("bizpack in force", "bizpack", spec.Name, "version", in.manifest.Version, "pid", in.pid())
	return in.manifest.Version, nil
}

// Errors of Reload and Rollback.
var (
	// ErrUnknown: no bizpack of that name is configured.
	ErrUnknown = errors.New("no bizpack of that name is configured")
	// ErrNoPrevious: the bizpack has no previous version running.
	ErrNoPrevious = errors.New("the bizpack has no previous version to roll back to")
)

// Reload loads a configured bizpack again (see Load): from path and sha256
// when given (a new build), from its configured binary otherwise. The
// configuration remembers the new binary when it is put in force.
func (h *Host) Reload(ctx context.Context, name, path, sha256 string) (string, error) {
	h.mu.Lock()
	s, ok := h.specs[name]
	h.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("bizpack %q: %w", name, ErrUnknown)
	}
	if path != "" {
		s.Path = path
	}
	if sha256 != "" {
		s.SHA256 = sha256
	}
	return h.Load(ctx, s)
}

// Rollback puts the previous version of a bizpack back in force, at once:
// it has been running all along. The version it replaces becomes the
// standby, so a second Rollback undoes the first.
func (h *Host) Rollback(name string) (string, error) {
	h.ops.Lock()
	defer h.ops.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.packs[name]
	if _, known := h.specs[name]; !known && p == nil {
		return "", fmt.Errorf("bizpack %q: %w", name, ErrUnknown)
	}
	if p == nil || p.previous == nil {
		return "", fmt.Errorf("bizpack %s: %w", name, ErrNoPrevious)
	}
	if st := p.previous.BizpackState(); st.Status != StatusRunning {
		return "", fmt.Errorf("bizpack %s %s is %s, not running: %w", name, st.Version, st.Status, ErrNoPrevious)
	}
	if err := h.k.Registry().PutBizpack(p.previousBP); err != nil {
		return "", err
	}
	if _, err := h.k.Recompile(); err != nil {
		_ = h.k.Registry().PutBizpack(p.activeBP)
		return "", fmt.Errorf("rolling back bizpack %s: %w", name, err)
	}
	p.active, p.previous = p.previous, p.active
	p.activeBP, p.previousBP = p.previousBP, p.activeBP
	h.markStandby(p)
	return p.activeBP.Version, nil
}

func (h *Host) markStandby(p *pack) {
	standby := ""
	if p.previous != nil {
		standby = p.previous.manifest.Version
		p.previous.mu.Lock()
		p.previous.standby = ""
		p.previous.mu.Unlock()
	}
	p.active.mu.Lock()
	p.active.standby = standby
	p.active.mu.Unlock()
}

// drain stops an instance once the operations that may still use it have
// had Drain to finish.
func (h *Host) drain(p *pack, in *instance) {
	p.draining = append(p.draining, in)
	time.AfterFunc(h.opts.Drain, func() {
		in.shutdown()
		h.mu.Lock()
		p.draining = slices.DeleteFunc(p.draining, func(x *instance) bool { return x == in })
		h.mu.Unlock()
	})
}

// States returns the state of every bizpack in force (as the kernel reports
// it) and of every configured one that has not started (StatusIdle: it
// starts when a configuration binds it), sorted by name.
func (h *Host) States() []kernel.BizpackState {
	out := h.k.Bizpacks()
	h.mu.Lock()
	for name := range h.specs {
		if _, loaded := h.packs[name]; loaded || slices.ContainsFunc(out, func(st kernel.BizpackState) bool { return st.Name == name }) {
			continue
		}
		out = append(out, kernel.BizpackState{Name: name, Status: StatusIdle, Breaker: "closed"})
	}
	h.mu.Unlock()
	slices.SortFunc(out, func(a, b kernel.BizpackState) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Pids returns the process ids of every bizpack process the host runs:
// versions in force, standbys and draining ones.
func (h *Host) Pids() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []int
	for _, p := range h.packs {
		for _, in := range append([]*instance{p.active, p.previous}, p.draining...) {
			if in != nil {
				if pid := in.pid(); pid != 0 {
					out = append(out, pid)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// Close stops every bizpack process and waits for them to be gone. The
// kernel keeps the registered bizpacks; their calls then fail by their
// points' policies.
func (h *Host) Close() {
	h.mu.Lock()
	h.closed = true
	var all []*instance
	for _, p := range h.packs {
		all = append(all, p.draining...)
		for _, in := range []*instance{p.active, p.previous} {
			if in != nil {
				all = append(all, in)
			}
		}
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range all {
		wg.Go(in.shutdown)
	}
	wg.Wait()
	plugin.KillAll()
	if h.tempExec {
		removeTree(h.opts.execDir) // bundles are unpacked read-only
	}
	if h.tempSock {
		_ = os.RemoveAll(h.opts.sockDir)
	}
}

// Checksum returns the hex SHA-256 of the file at path.
func Checksum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return plugin.Checksum(f)
}
