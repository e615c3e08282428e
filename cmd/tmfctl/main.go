// Command tmfctl is the TMF command-line tool for business teams.
//
//	tmfctl bizpack new NAME [--dir DIR] [--module PATH] [--tmf DIR] [--no-tidy]
//	tmfctl bizpack sum FILE
//	tmfctl policy test DIR [--min-coverage 100]
//	tmfctl policy check PATH
//
// "bizpack new" scaffolds a bizpack (a Go module with its manifest, an
// order.validate implementation, a test over both harness runners and a
// README) that builds and passes its test as generated. "bizpack sum" prints
// the hex SHA-256 of a built bizpack, the value tmfd's configuration needs
// to load it. "policy test" runs the Rego tests of a policy directory with
// coverage (as `opa test --coverage`), failing below the minimum; "policy
// check" loads a policy directory or bundle exactly as tmfd would.
//
// Exit status: 0 on success, 1 when the command failed, 2 on a usage error
// (help, an unknown command, a bad flag or argument). Errors and usage go to
// stderr, results to stdout.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses of run.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

const usage = `usage: tmfctl <command> [arguments]

Commands:
  bizpack new NAME [flags]   scaffold a bizpack in DIR (default ./NAME)
      --dir DIR        where to write it; must not exist or be empty
      --module PATH    its Go module path (default example.com/bizpacks/NAME)
      --tmf DIR        the TMF source tree to build against (default: found by
                       walking up from the current directory)
      --no-tidy        do not run "go mod tidy" in DIR afterwards
  bizpack sum FILE           print the hex SHA-256 of FILE, for tmfd's configuration
  policy test DIR [flags]    run the Rego tests of a policy directory with coverage
      --min-coverage N  fail below N percent (default 100)
  policy check PATH          load a policy directory or bundle as tmfd would
  help                       print this text

NAME is lowercase letters, digits and dashes, like "flash-sale".`

// usageError is a command line that tmfctl cannot run: run prints it with
// the usage text and exits with status 2. An empty msg prints only the
// usage (help).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run runs the command line args and returns the process's exit status.
func run(args []string, stdout, stderr io.Writer) int {
	err := dispatch(args, stdout, stderr)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		if ue.msg != "" {
			fmt.Fprintln(stderr, "tmfctl:", ue.msg)
		}
		fmt.Fprintln(stderr, usage)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "tmfctl:", err)
		return exitFail
	}
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &usageError{}
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return &usageError{}
	case "bizpack":
		return bizpackCommand(args[1:], stdout)
	case "policy":
		return policyCommand(args[1:], stdout)
	}
	return usagef("unknown command %q", args[0])
}

func bizpackCommand(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("bizpack: missing subcommand (new or sum)")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return &usageError{}
	case "new":
		opts, err := parseNew(args[1:])
		if err != nil {
			return err
		}
		return newBizpack(opts, stdout)
	case "sum":
		if len(args) != 2 {
			return usagef("bizpack sum takes exactly one FILE")
		}
		sum, err := sumFile(args[1])
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, sum)
		return nil
	}
	return usagef("unknown bizpack subcommand %q", args[0])
}
