package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// brokerStream is go-plugin's broker stream, which the host opens to
// every plugin unless refused.
const brokerStream = "/plugin.GRPCBroker/StartStream"

// refuseBroker refuses the broker stream and lets every other stream
// (go-plugin's stdio, the bizpack's calls) through.
func refuseBroker(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if method == brokerStream {
		return nil, status.Error(codes.PermissionDenied, "the bizpack protocol uses no broker")
	}
	return streamer(ctx, desc, cc, method, opts...)
}

// Options say how to start a bizpack process.
type Options struct {
	// Path of the bizpack binary.
	Path string
	// Args are passed to it.
	Args []string
	// SHA256 is the expected checksum of the binary, in hex. Required: a
	// binary that does not match is not started (ErrChecksum).
	SHA256 string
	// Env is the whole environment of the process: the host's own is never
	// passed on. go-plugin adds the variables of its handshake.
	Env []string
	// Dir is the working directory; empty is the host's.
	Dir string
	// StartTimeout bounds the handshake; 10s when zero.
	StartTimeout time.Duration
	// Logger receives go-plugin's and the bizpack's log lines; nil
	// discards them.
	Logger hclog.Logger
	// Stderr, if set, also receives the bizpack's raw stderr.
	Stderr io.Writer
	// KillGrace bounds each step of Kill: the wait for a graceful exit,
	// then the wait for the killed process group to be gone; 2s when zero.
	KillGrace time.Duration
	// Prepare, if set, may change the command before it starts (its
	// SysProcAttr already asks for a process group of its own).
	Prepare func(*exec.Cmd) error
	// Wrapper, if set, is the command that runs instead of the binary and
	// must exec it in the same process (Path and Args follow Wrapper's
	// own arguments): a shim that limits the process before the binary's
	// first instruction. Start still checks Path's checksum.
	Wrapper []string
}

// Process is one running bizpack process, the leader of a process group of
// its own: whatever it starts is killed with it.
type Process struct {
	client *goplugin.Client
	cmd    *exec.Cmd
	conn   *Conn
	pid    int
	grace  time.Duration
	exited chan struct{} // closed when the process has ended
	kill   sync.Once
}

// live are the processes started and not killed yet, for KillAll.
var live struct {
	sync.Mutex
	m map[*Process]struct{}
}

// Start verifies the binary's checksum, starts it without the host's
// environment, negotiates mutual TLS and the protocol's major version over
// the go-plugin handshake, and returns the running process. It does not
// call Describe or Health: the caller decides what healthy means.
func Start(o Options) (*Process, error) {
	sum, err := hex.DecodeString(strings.TrimSpace(o.SHA256))
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("bizpack %s: sha256 must be 64 hex digits", o.Path)
	}
	logger := o.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	timeout := o.StartTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if err := checkSum(o.Path, hex.EncodeToString(sum)); err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Path, o.Args...)
	if len(o.Wrapper) > 0 {
		cmd = exec.Command(o.Wrapper[0], append(append(append([]string{}, o.Wrapper[1:]...), o.Path), o.Args...)...)
	}
	cmd.Env = append([]string{}, o.Env...)
	cmd.Dir = o.Dir
	isolate(cmd)
	if o.Prepare != nil {
		if err := o.Prepare(cmd); err != nil {
			return nil, fmt.Errorf("bizpack %s: %w", o.Path, err)
		}
	}
	grace := o.KillGrace
	if grace <= 0 {
		grace = 2 * time.Second
	}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: Handshake,
		Plugins:         goplugin.PluginSet{Name: &grpcPlugin{}},
		Cmd:             cmd,
		// The checksum is checked above, on Path, which a Wrapper runs.
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		// Not Managed: go-plugin's CleanupClients waits without a limit;
		// KillAll kills with one.
		StartTimeout: timeout,
		Logger:       logger,
		Stderr:       o.Stderr,
		// The bizpack protocol has no use for go-plugin's broker: its
		// stream is refused, so a bizpack cannot make the host keep
		// connection offers (each one a map entry and a goroutine for 5s).
		GRPCDialOptions: []grpc.DialOption{grpc.WithChainStreamInterceptor(refuseBroker)},
	})
	rpc, err := client.Client()
	if err != nil {
		if cmd.Process != nil {
			killGroup(cmd.Process.Pid)
		}
		// Kill waits for the process's stderr to be read to its end, so
		// that Logger and Stderr have seen its last words (a crash message)
		// when Start returns; bounded, as a child may hold the pipe.
		killed := make(chan struct{})
		go func() { client.Kill(); close(killed) }()
		select {
		case <-killed:
		case <-time.After(grace):
		}
		return nil, fmt.Errorf("starting bizpack %s: %w", o.Path, err)
	}
	p := &Process{client: client, cmd: cmd, pid: cmd.Process.Pid, grace: grace, exited: make(chan struct{})}
	watchExit(p.pid, p.exited)
	live.Lock()
	if live.m == nil {
		live.m = map[*Process]struct{}{}
	}
	live.m[p] = struct{}{}
	live.Unlock()
	raw, err := rpc.Dispense(Name)
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("bizpack %s: %w", o.Path, err)
	}
	p.conn = raw.(*Conn)
	return p, nil
}

// checkSum hashes the file at path: ErrChecksum unless it is want.
func checkSum(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("starting bizpack %s: %w", path, err)
	}
	defer f.Close()
	got, err := Checksum(f)
	if err != nil {
		return fmt.Errorf("starting bizpack %s: %w", path, err)
	}
	if got != want {
		return fmt.Errorf("%w: %s", ErrChecksum, path)
	}
	return nil
}

// Conn is the connection to the process.
func (p *Process) Conn() *Conn { return p.conn }

// Pid is the process id; it is also the id of the process's group.
func (p *Process) Pid() int { return p.pid }

// Exited reports whether the process has ended. It watches the process,
// not its pipes: a child that holds the bizpack's stderr open does not hide
// its exit.
func (p *Process) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.exited }

// Kill ends the process and its whole process group, within about twice
// the kill grace whatever the process does: it asks for a graceful exit
// (go-plugin's Kill, which may wait forever on a stopped process or on a
// pipe a child holds, so it is not waited for), waits up to the grace for
// the process to exit, then sends SIGKILL to the group, which also ends
// any children the bizpack left behind, and waits up to the grace again.
// It is safe to call more than once and from several goroutines.
func (p *Process) Kill() {
	p.kill.Do(func() {
		go p.client.Kill()
		select {
		case <-p.exited:
		case <-time.After(p.grace):
		}
		killGroup(p.pid)
		select {
		case <-p.exited:
		case <-time.After(p.grace):
		}
		live.Lock()
		delete(live.m, p)
		live.Unlock()
	})
}

// KillAll ends every bizpack process this process started and has not
// killed, all at once, each within its kill grace: what a host calls on
// its way out (on a signal, too).
func KillAll() {
	live.Lock()
	all := make([]*Process, 0, len(live.m))
	for p := range live.m {
		all = append(all, p)
	}
	live.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Go(p.Kill)
	}
	wg.Wait()
}

// Checksum returns the hex SHA-256 of a file, for configuration.
func Checksum(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
