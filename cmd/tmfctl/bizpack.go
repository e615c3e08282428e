package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/tmf-platform/tmf/extensions/plugin"
)

// tmfModule is the module path of the TMF source tree a bizpack builds
// against. It is not published yet, so a generated go.mod replaces it with
// a local checkout.
const tmfModule = "github.com/tmf-platform/tmf"

// bizpackName is the rule of extensions.Manifest names (the manifest
// package does not export its pattern; the tests check the two agree).
var bizpackName = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// modulePathChars are the characters tmfctl accepts in --module: enough for
// any module path, and none that would need quoting in go.mod. The go
// command checks the rest when it tidies the module.
var modulePathChars = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~+/-]*$`)

// NameError is a bizpack name that the platform would refuse.
type NameError struct{ Name string }

func (e *NameError) Error() string {
	return fmt.Sprintf("bizpack name %q must be lowercase letters, digits and dashes, starting with a letter, like \"flash-sale\"", e.Name)
}

// checkName returns a *NameError unless name is a valid bizpack name.
func checkName(name string) error {
	if !bizpackName.MatchString(name) {
		return &NameError{Name: name}
	}
	return nil
}

// TMFNotFoundError is a scaffold without --tmf run outside a TMF source
// tree.
type TMFNotFoundError struct{ From string }

func (e *TMFNotFoundError) Error() string {
	return fmt.Sprintf("no TMF source tree (a go.mod of module %s) in %s or above it; the module is not published yet, so pass --tmf DIR with the path of a TMF checkout",
		tmfModule, e.From)
}

// NotTMFError is a --tmf directory that is not a TMF source tree.
type NotTMFError struct {
	Dir    string
	Reason string
}

func (e *NotTMFError) Error() string {
	return fmt.Sprintf("--tmf %s is not a TMF source tree: %s", e.Dir, e.Reason)
}

// DirNotEmptyError is a scaffold into a directory that already holds
// something: tmfctl never overwrites files.
type DirNotEmptyError struct{ Dir string }

func (e *DirNotEmptyError) Error() string {
	return fmt.Sprintf("%s exists and is not an empty directory; choose another --dir", e.Dir)
}

// TidyError is a "go mod tidy" that failed in a freshly written bizpack.
// The files stay where they were written.
type TidyError struct {
	Dir    string
	Output string
	Err    error
}

func (e *TidyError) Error() string {
	return fmt.Sprintf("the bizpack was written to %s, but go mod tidy failed there (%v); fix the cause and run go mod tidy in it:\n%s",
		e.Dir, e.Err, strings.TrimSpace(e.Output))
}

func (e *TidyError) Unwrap() error { return e.Err }

// newOptions are the settings of "tmfctl bizpack new".
type newOptions struct {
	Name   string
	Dir    string // default ./Name
	Module string // default example.com/bizpacks/Name
	TMF    string // default: found from the current directory
	NoTidy bool
}

// parseNew reads the arguments of "bizpack new": exactly one NAME, before,
// between or after the flags. It checks the name and the module path; the
// directories are checked when the bizpack is written.
func parseNew(args []string) (newOptions, error) {
	var o newOptions
	fs := flag.NewFlagSet("bizpack new", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints the error and the usage
	fs.StringVar(&o.Dir, "dir", "", "directory to write the bizpack to")
	fs.StringVar(&o.Module, "module", "", "Go module path of the bizpack")
	fs.StringVar(&o.TMF, "tmf", "", "TMF source tree")
	fs.BoolVar(&o.NoTidy, "no-tidy", false, "do not run go mod tidy")
	var names []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return o, &usageError{}
			}
			return o, usagef("bizpack new: %v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch len(names) {
	case 0:
		return o, usagef("bizpack new: missing NAME")
	case 1:
		o.Name = names[0]
	default:
		return o, usagef("bizpack new takes one NAME, got %s", strings.Join(names, " "))
	}
	if err := checkName(o.Name); err != nil {
		return o, &usageError{msg: err.Error()}
	}
	if o.Dir == "" {
		o.Dir = o.Name
	}
	if o.Module == "" {
		o.Module = "example.com/bizpacks/" + o.Name
	}
	if !modulePathChars.MatchString(o.Module) || strings.Contains(o.Module, "//") || strings.HasSuffix(o.Module, "/") {
		return o, usagef("--module %q is not a Go module path like example.com/team/%s", o.Module, o.Name)
	}
	return o, nil
}

// newBizpack scaffolds the bizpack o describes, tidies its module unless
// o.NoTidy, and prints the next steps to stdout.
func newBizpack(o newOptions, stdout io.Writer) error {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	tmf, err := tmfTree(o.TMF)
	if err != nil {
		return err
	}
	if err := scaffold(dir, scaffoldData{Name: o.Name, Module: o.Module, TMFModule: tmfModule, TMFDir: tmf}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Wrote bizpack %s to %s (building against %s).\n", o.Name, dir, tmf)
	if !o.NoTidy {
		fmt.Fprintln(stdout, "Running go mod tidy…")
		if err := tidy(dir); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, `
Next steps:
  cd %s
`, dir)
	if o.NoTidy {
		fmt.Fprintln(stdout, "  go mod tidy")
	}
	fmt.Fprintf(stdout, `  go test ./...                 # runs the rule in process and as a real plugin
  go build -o bin/%[1]s .
  tmfctl bizpack sum bin/%[1]s   # the sha256 tmfd's configuration needs
Then bind it to an identity as README.md shows.
`, o.Name)
	return nil
}

// tmfTree returns the absolute path of the TMF source tree: flagDir if
// given (which must be one), else the nearest directory at or above the
// current one whose go.mod declares the TMF module.
func tmfTree(flagDir string) (string, error) {
	if flagDir != "" {
		abs, err := filepath.Abs(flagDir)
		if err != nil {
			return "", err
		}
		data, err := os.ReadFile(filepath.Join(abs, "go.mod"))
		if err != nil {
			return "", &NotTMFError{Dir: flagDir, Reason: "it has no readable go.mod"}
		}
		if mod := modulePath(data); mod != tmfModule {
			return "", &NotTMFError{Dir: flagDir, Reason: fmt.Sprintf("its go.mod declares module %q, not %s", mod, tmfModule)}
		}
		return abs, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return findTMF(wd)
}

// findTMF walks up from start (an absolute directory) to the first go.mod
// that declares the TMF module, skipping go.mods of other modules (such as
// a bizpack's own inside the tree).
func findTMF(start string) (string, error) {
	for dir := start; ; {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modulePath(data) == tmfModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", &TMFNotFoundError{From: start}
		}
		dir = parent
	}
}

// modulePath returns the path of the module directive of a go.mod, or ""
// if it has none.
func modulePath(gomod []byte) string {
	for line := range strings.SplitSeq(string(gomod), "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) != 2 || f[0] != "module" {
			continue
		}
		if p, err := strconv.Unquote(f[1]); err == nil {
			return p
		}
		return f[1]
	}
	return ""
}

// tidy runs "go mod tidy" in dir with the environment of this process, so
// that go.sum is complete before the author's first build.
func tidy(dir string) error {
	cmd := exec.Command(goTool(), "mod", "tidy")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return &TidyError{Dir: dir, Output: out.String(), Err: err}
	}
	return nil
}

// goTool is the go command of the toolchain tmfctl was built with, or the
// one on PATH when that is not installed here.
func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if runtime.GOOS == "windows" {
		p += ".exe"
	}
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// sumFile returns the hex SHA-256 of the file at path.
func sumFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return "", fmt.Errorf("%s is a directory, not a bizpack binary", path)
	}
	sum, err := plugin.Checksum(f)
	if err != nil {
		return "", fmt.Errorf("checksum of %s: %w", path, err)
	}
	return sum, nil
}
