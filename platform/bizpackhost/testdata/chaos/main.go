// Command chaos is a bizpack that misbehaves on purpose, for the host's
// containment tests. What it does depends on the buyer of the request:
//
//	panic  panics in the implementation
//	hang   never answers (ignores its context)
//	exit   kills its own process in the middle of the call
//	fail   returns an error
//	big    returns a 1 MB error
//	bigdeny denies with a 1 MB code and reason
//	spam   writes 2000 log lines of 4 KiB to stderr (in the background) and allows
//	fds    opens 100 files and denies with what happened
//	env    denies, giving its whole environment as the reason
//	burn   spins on every CPU in the background and allows
//	alloc  allocates and touches 2 GiB, then denies with "alloc" and how
//	       much it got (beyond its memory limit it is killed instead)
//	forkbomb starts sleeping children until it cannot, then denies with
//	       "forkbomb" and how many it started and why it stopped
//	open:PATH  reads the file at PATH and denies with code "open" and
//	       "read N bytes" or the error as the reason
//	dial:ADDR  connects to the TCP address ADDR and denies with code
//	       "dial" and "connected" or the error
//	unix:PATH  the same with the unix socket at PATH
//	udp:ADDR   sends a UDP datagram to ADDR, the same
//	tmp    creates a file in its temporary directory and denies with code
//	       "tmp" and "created" or the error
//	other  allows, with the bizpack's version as the verdict's code
//
// pricing.adjust sets each unit price to 2^62 for the buyer "huge" and to
// 10^13 for "dear", and takes 10% off otherwise.
//
// stock.route_warehouse hangs for the region "hang", fails for "fail" and
// skips otherwise.
//
// With --crash-file PATH it exits at start while PATH exists (a crash loop).
// With --slow-start D it waits D before serving.
// With --limits-file PATH it writes its /proc/self/limits, niceness and
// shim variable to PATH at start.
// With --snoop-file PATH it reads its parent's /proc/<pid>/environ at start
// and writes to PATH whether it could and whether it holds
// TMF_TEST_SECRET=hunter2, and its own uid.
// With --network its manifest asks for the network.
// With --spawn-file PATH it starts a child at start that sleeps forever
// holding its stderr, and writes the child's pid to PATH.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/extensions/plugin"
)

// version is set at build time (-ldflags "-X main.version=2.0.0").
var version = "1.0.0"

// network is set by --network: the manifest asks for the network.
var network bool

func newBizpack() *extensions.Bizpack {
	b := extensions.New(extensions.Manifest{Name: "chaos", Version: version, Identities: []string{"retail"}, Network: network,
		Points: []extensions.PointTypes{{Point: extensions.OrderValidate}, {Point: extensions.PricingAdjust},
			{Point: extensions.StockRouteWarehouse}, {Point: extensions.DeliveryRequired}}})
	extensions.Implement(b, extensions.OrderValidate, func(ctx context.Context, r extensions.ValidateRequest) (extensions.Verdict, error) {
		switch r.Buyer.ID {
		case "panic":
			panic("chaos: asked to panic")
		case "hang":
			select {} // ignores its context on purpose
		case "exit":
			os.Exit(7)
		case "fail":
			return extensions.Verdict{}, errors.New("chaos: asked to fail")
		case "big":
			return extensions.Verdict{}, errors.New(strings.Repeat("x", 1<<20))
		case "bigdeny":
			return extensions.Deny(strings.Repeat("c", 1<<20), strings.Repeat("r", 1<<20)), nil
		case "spam":
			line := "[WARN] " + strings.Repeat("s", 4096) + "\n"
			// fd 2 itself: go-plugin points os.Stderr at its own pipe.
			stderr := os.NewFile(2, "stderr")
			go func() {
				for range 2000 {
					stderr.WriteString(line)
				}
			}()
			return extensions.Verdict{Allow: true, Code: version}, nil
		case "fds": // opens 100 files, keeping them open
			var files []*os.File
			defer func() {
				for _, f := range files {
					f.Close()
				}
			}()
			for range 100 {
				f, err := os.Open("/dev/null")
				if err != nil {
					return extensions.Deny("fds", err.Error()), nil
				}
				files = append(files, f)
			}
			return extensions.Deny("fds", "opened 100 files"), nil
		case "alloc": // 2 GiB, touched, kept
			var chunks [][]byte
			for range 128 {
				c := make([]byte, 16<<20)
				for i := 0; i < len(c); i += 4096 {
					c[i] = 1
				}
				chunks = append(chunks, c)
			}
			return extensions.Deny("alloc", fmt.Sprintf("allocated %d MiB", 16*len(chunks))), nil
		case "forkbomb": // children that sleep, until it cannot start more
			for n := 0; n < 5000; n++ {
				c := exec.Command(os.Args[0], "--sleeper")
				if err := c.Start(); err != nil {
					return extensions.Deny("forkbomb", fmt.Sprintf("started %d: %v", n, err)), nil
				}
			}
			return extensions.Deny("forkbomb", "started 5000"), nil
		case "burn": // spins on every CPU until the process ends
			for range runtime.NumCPU() {
				go func() {
					for {
					}
				}()
			}
			return extensions.Verdict{Allow: true, Code: version}, nil
		case "env":
			return extensions.Deny("env", strings.Join(os.Environ(), "\n")), nil
		case "tmp":
			f, err := os.CreateTemp("", "chaos-")
			if err != nil {
				return extensions.Deny("tmp", err.Error()), nil
			}
			f.Close()
			os.Remove(f.Name())
			return extensions.Deny("tmp", "created"), nil
		}
		if path, ok := strings.CutPrefix(r.Buyer.ID, "open:"); ok {
			b, err := os.ReadFile(path)
			if err != nil {
				return extensions.Deny("open", err.Error()), nil
			}
			return extensions.Deny("open", fmt.Sprintf("read %d bytes", len(b))), nil
		}
		if path, ok := strings.CutPrefix(r.Buyer.ID, "unix:"); ok {
			c, err := net.DialTimeout("unix", path, 2*time.Second)
			if err != nil {
				return extensions.Deny("dial", err.Error()), nil
			}
			c.Close()
			return extensions.Deny("dial", "connected"), nil
		}
		if addr, ok := strings.CutPrefix(r.Buyer.ID, "udp:"); ok {
			c, err := net.ListenPacket("udp", ":0")
			if err == nil {
				var ua *net.UDPAddr
				if ua, err = net.ResolveUDPAddr("udp", addr); err == nil {
					_, err = c.WriteTo([]byte("exfiltrated"), ua)
				}
				c.Close()
			}
			if err != nil {
				return extensions.Deny("dial", err.Error()), nil
			}
			return extensions.Deny("dial", "connected"), nil
		}
		if addr, ok := strings.CutPrefix(r.Buyer.ID, "dial:"); ok {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return extensions.Deny("dial", err.Error()), nil
			}
			c.Close()
			return extensions.Deny("dial", "connected"), nil
		}
		return extensions.Verdict{Allow: true, Code: version}, nil
	})
	extensions.Implement(b, extensions.PricingAdjust, func(ctx context.Context, s extensions.PriceSheet) (extensions.PriceSheet, error) {
		if s.Buyer.ID == "hang" {
			select {}
		}
		lines := make([]extensions.Line, len(s.Lines))
		for i, l := range s.Lines {
			l.UnitPrice = l.UnitPrice * 9 / 10
			switch s.Buyer.ID {
			case "huge": // 2^62
				l.UnitPrice = 1 << 62
			case "dear": // 10^13 each: in bounds, the line total may not be
				l.UnitPrice = 10_000_000_000_000
			}
			lines[i] = l
		}
		s.Lines = lines
		s.Adjustments = append(s.Adjustments, "chaos:"+version)
		return s, nil
	})
	extensions.Implement(b, extensions.StockRouteWarehouse, func(ctx context.Context, r extensions.RouteRequest) (extensions.Route, error) {
		switch r.Region {
		case "hang":
			select {}
		case "fail":
			return extensions.Route{}, errors.New("chaos: asked to fail routing")
		}
		return extensions.Route{}, extensions.ErrSkip
	})
	extensions.Implement(b, extensions.DeliveryRequired, func(ctx context.Context, r extensions.DeliveryRequest) (extensions.DeliveryRequirement, error) {
		return extensions.DeliveryRequirement{}, extensions.ErrSkip
	})
	return b
}

func main() {
	crash := flag.String("crash-file", "", "exit at start while this file exists")
	spawn := flag.String("spawn-file", "", "start a child holding stderr and write its pid here")
	sleeper := flag.Bool("sleeper", false, "sleep forever (the child of --spawn-file)")
	slow := flag.Duration("slow-start", 0, "wait this long before serving")
	snoop := flag.String("snoop-file", "", "try to read the host's environment, write what happened here")
	limits := flag.String("limits-file", "", "write /proc/self/limits and the niceness here")
	flag.BoolVar(&network, "network", false, "ask for the network in the manifest")
	flag.Parse()
	if *limits != "" {
		b, _ := os.ReadFile("/proc/self/limits")
		prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
		// The raw value is 20 - nice on Linux.
		b = fmt.Appendf(b, "nice %d %v\nenv %s\n", 20-prio, err, os.Getenv("TMF_BIZPACK_SHIM"))
		if err := os.WriteFile(*limits, b, 0o666); err != nil {
			panic(err)
		}
	}
	time.Sleep(*slow)
	if *snoop != "" {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(os.Getppid()) + "/environ")
		result := "denied: " + fmt.Sprint(err)
		if err == nil {
			result = "read " + strconv.Itoa(len(b)) + " bytes"
			if strings.Contains(string(b), "TMF_TEST_SECRET=hunter2") {
				result += ": SECRET"
			}
		}
		// The host's command line: readable by every local user unless
		// Landlock hides the host's /proc entry.
		cl, err := os.ReadFile("/proc/" + strconv.Itoa(os.Getppid()) + "/cmdline")
		switch {
		case err != nil:
			result += "\ncmdline denied: " + err.Error()
		case strings.Contains(string(cl), "hunter2-on-the-command-line"):
			result += "\ncmdline SECRET"
		default:
			result += "\ncmdline read"
		}
		result += "\nuid " + strconv.Itoa(os.Getuid())
		if err := os.WriteFile(*snoop, []byte(result), 0o666); err != nil {
			panic(err)
		}
	}
	if *sleeper {
		select {}
	}
	if *spawn != "" {
		c := exec.Command(os.Args[0], "--sleeper")
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			panic(err)
		}
		if err := os.WriteFile(*spawn, []byte(strconv.Itoa(c.Process.Pid)), 0o600); err != nil {
			panic(err)
		}
	}
	if *crash != "" {
		if _, err := os.Stat(*crash); err == nil {
			os.Exit(3)
		}
	}
	plugin.Serve(newBizpack())
}
