package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
)

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
}

// Process is one running bizpack process.
type Process struct {
	client *goplugin.Client
	cmd    *exec.Cmd
	conn   *Conn
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
	cmd := exec.Command(o.Path, o.Args...)
	cmd.Env = append([]string{}, o.Env...)
	cmd.Dir = o.Dir
	dieWithParent(cmd)
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          goplugin.PluginSet{Name: &grpcPlugin{}},
		Cmd:              cmd,
		SecureConfig:     &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		Managed:          true,
		StartTimeout:     timeout,
		Logger:           logger,
		Stderr:           o.Stderr,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) || strings.Contains(err.Error(), goplugin.ErrChecksumsDoNotMatch.Error()) {
			return nil, fmt.Errorf("%w: %s", ErrChecksum, o.Path)
		}
		return nil, fmt.Errorf("starting bizpack %s: %w", o.Path, err)
	}
	raw, err := rpc.Dispense(Name)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("bizpack %s: %w", o.Path, err)
	}
	return &Process{client: client, cmd: cmd, conn: raw.(*Conn)}, nil
}

// Conn is the connection to the process.
func (p *Process) Conn() *Conn { return p.conn }

// Pid is the process id.
func (p *Process) Pid() int {
	if p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool { return p.client.Exited() }

// Kill ends the process: gracefully if it answers quickly, by force
// otherwise. It is safe to call more than once.
func (p *Process) Kill() { p.client.Kill() }

// KillAll ends every bizpack process this process started and has not
// killed: what a host calls on its way out (on a signal, too).
func KillAll() { goplugin.CleanupClients() }

// Checksum returns the hex SHA-256 of a file, for configuration.
func Checksum(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
