package bizpackhost

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seccomp filter of a bizpack without the network, installed by the
// shim just before it executes the bizpack. Landlock up to ABI 8 (Linux
// 6.18 has 7) restricts TCP only: UDP, and connecting to any pathname
// unix socket the bizpack's user may write (PostgreSQL's
// /var/run/postgresql/.s.PGSQL.5432, a Docker or systemd socket), are
// not covered. The filter closes both where the kernel cannot: connect(2)
// fails with EACCES (a bizpack only ever accepts: the server connects to
// it), socket(2) of the internet and packet families fails with EACCES
// (UDP, raw sockets), and so does io_uring_setup(2), whose operations
// seccomp would not see. System calls of another ABI (i386 through
// int 0x80, x32) fail likewise, so the numbers cannot be dodged.
//
// A bizpack whose manifest asks for the network runs without it.

// seccompArch is this architecture's audit value, 0 where the host has
// no filter for it (then none is installed and the host says so).
func seccompArch() uint32 {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	}
	return 0
}

// seccompFilter is the filter's program.
func seccompFilter() []unix.SockFilter {
	const (
		ld   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
		deny = unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)
		nr   = 0  // offsetof(struct seccomp_data, nr)
		arch = 4  // offsetof(struct seccomp_data, arch)
		arg0 = 16 // offsetof(struct seccomp_data, args[0]), low half (little endian)
	)
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jump := func(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: code, K: k, Jt: jt, Jf: jf}
	}
	return []unix.SockFilter{
		/* 0 */ stmt(ld, arch),
		/* 1 */ jump(jeq, seccompArch(), 1, 0),
		/* 2 */ stmt(ret, deny), // another ABI
		/* 3 */ stmt(ld, nr),
		/* 4 */ jump(jge, 0x40000000, 0, 1), // x32
		/* 5 */ stmt(ret, deny),
		/* 6 */ jump(jeq, unix.SYS_CONNECT, 0, 1),
		/* 7 */ stmt(ret, deny),
		/* 8 */ jump(jeq, unix.SYS_IO_URING_SETUP, 0, 1),
		/* 9 */ stmt(ret, deny),
		/* 10 */ jump(jeq, unix.SYS_SOCKET, 0, 5),
		/* 11 */ stmt(ld, arg0),
		/* 12 */ jump(jeq, unix.AF_INET, 2, 0),
		/* 13 */ jump(jeq, unix.AF_INET6, 1, 0),
		/* 14 */ jump(jeq, unix.AF_PACKET, 0, 1),
		/* 15 */ stmt(ret, deny),
		/* 16 */ stmt(ret, unix.SECCOMP_RET_ALLOW),
	}
}

// applySeccomp installs the filter on the calling thread, which must then
// execute the bizpack (the filter is inherited across execve and by every
// thread and child of the bizpack).
func applySeccomp() error {
	if seccompArch() == 0 {
		return fmt.Errorf("no seccomp filter for %s", runtime.GOARCH)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	f := seccompFilter()
	prog := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	runtime.KeepAlive(f)
	return nil
}
