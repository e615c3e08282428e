package bizpackhost_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tmf-platform/tmf/extensions"
	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/order"
)

// nodeDir is the Node.js example bizpack.
const nodeDir = "../../bizpacks/node-order-limit"

// nodeOrSkip returns the absolute path of Node.js, skipping the test where
// it or the example's node_modules (npm ci, which .ci/run runs) are absent.
func nodeOrSkip(t testing.TB, needModules bool) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping the Node.js bizpack test")
	}
	node, _ = filepath.Abs(node)
	if needModules {
		if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "@grpc", "grpc-js")); err != nil {
			t.Skipf("%s/node_modules is absent (run npm ci there; .ci/run does): skipping the Node.js bizpack test", nodeDir)
		}
	}
	return node
}

// writeBundle packs dir into a tar.gz bundle at out, replacing the files
// named in replace by the given content, and returns its checksum.
func writeBundle(t testing.TB, dir, out string, replace map[string]string) string {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	written := map[string]bool{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		var body []byte
		if info.Mode().IsRegular() {
			if s, ok := replace[h.Name]; ok {
				body = []byte(s)
				written[h.Name] = true
			} else if body, err = os.ReadFile(p); err != nil {
				return err
			}
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = tw.Write(body)
		return err
	})
	for name, s := range replace {
		if err == nil && !written[name] {
			if err = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(s)), Typeflag: tar.TypeReg}); err == nil {
				_, err = tw.Write([]byte(s))
			}
		}
	}
	for _, c := range []func() error{tw.Close, gz.Close, f.Close} {
		if cerr := c(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	sum, err := bizpackhost.Checksum(out)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func nodeManifest(version string) string {
	return `{"name": "node-order-limit", "version": "` + version + `",
  "points": [{"point": "order.validate", "request": "ValidateRequest", "response": "Verdict"}], "protocol": "1.1"}`
}

func validateItems(op *kernel.Operation, qty int64) (kernel.Decision, error) {
	return order.Validate.Call(op, extensions.ValidateRequest{BizCode: "retail", Buyer: extensions.Buyer{ID: "b"},
		Lines: []extensions.Line{{SKU: "s", Quantity: qty, UnitPrice: 100}}})
}

func answeredBy(t *testing.T, op *kernel.Operation, version string) {
	t.Helper()
	for _, r := range op.Trace() {
		if r.Layer == kernel.LayerBizpack && r.Point == extensions.OrderValidate {
			if r.Version != version {
				t.Fatalf("answered by version %s, want %s", r.Version, version)
			}
			return
		}
	}
	t.Fatalf("the bizpack did not answer: trace %+v", op.Trace())
}

// The Node.js example bizpack, as a bundle run by the allowed interpreter,
// through the same checks as the Go bizpacks: allow, refuse, the deadline,
// a reload, a rollback, a restart after it is killed, a stop by
// plugin.GRPCController/Shutdown, its stderr in the host's log at Info.
func TestNodeBizpack(t *testing.T) {
	node := nodeOrSkip(t, true)
	dir := t.TempDir()
	sum1 := writeBundle(t, nodeDir, filepath.Join(dir, "v1.tar.gz"), nil)
	sum2 := writeBundle(t, nodeDir, filepath.Join(dir, "v2.tar.gz"), map[string]string{"bizpack.json": nodeManifest("2.0.0")})
	v1 := bizpackhost.Spec{Name: "node-order-limit", Path: filepath.Join(dir, "v1.tar.gz"), SHA256: sum1}
	v2 := bizpackhost.Spec{Name: "node-order-limit", Path: filepath.Join(dir, "v2.tar.gz"), SHA256: sum2}

	var logs lockedBuffer
	o := fast
	o.Interpreters = map[string]string{"node": node}
	o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := setup(t, o)
	e.load(t, v1)
	if _, err := e.k.Apply(kernel.Config{Revision: 2, Identities: []kernel.IdentitySpec{
		{Code: "retail", Bizpacks: []kernel.BizpackRef{{Name: "node-order-limit"}}}}}); err != nil {
		t.Fatal(err)
	}
	state := func() kernel.BizpackState {
		for _, s := range e.h.States() {
			if s.Name == "node-order-limit" {
				return s
			}
		}
		t.Fatal("no state for node-order-limit")
		return kernel.BizpackState{}
	}

	t.Run("allow", func(t *testing.T) {
		op := e.begin(t)
		if d, err := validateItems(op, 5); err != nil || !d.Allowed {
			t.Fatalf("5 items: %+v, %v; want allowed", d, err)
		}
		answeredBy(t, op, "1.0.0")
	})
	t.Run("refuse", func(t *testing.T) {
		d, err := validateItems(e.begin(t), 6)
		if err != nil || d.Allowed || d.Code != "too_many_items" || !strings.Contains(d.Reason, "at most 5") {
			t.Fatalf("6 items: %+v, %v; want a too_many_items veto", d, err)
		}
	})
	t.Run("log", func(t *testing.T) {
		eventually(t, "the bizpack's plain stderr line in the host's log at INFO", func() bool {
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "level=INFO") && strings.Contains(l, "node-order-limit serving on") {
					return true
				}
			}
			return false
		})
	})
	t.Run("reload and rollback", func(t *testing.T) {
		inFlight := e.begin(t)
		e.load(t, v2)
		op := e.begin(t)
		if d, err := validateItems(op, 1); err != nil || !d.Allowed {
			t.Fatalf("%+v, %v", d, err)
		}
		answeredBy(t, op, "2.0.0")
		if d, err := validateItems(inFlight, 1); err != nil || !d.Allowed {
			t.Fatalf("%+v, %v", d, err)
		}
		answeredBy(t, inFlight, "1.0.0")
		if v, err := e.h.Rollback("node-order-limit"); err != nil || v != "1.0.0" {
			t.Fatalf("Rollback = %q, %v", v, err)
		}
		op = e.begin(t)
		if _, err := validateItems(op, 1); err != nil {
			t.Fatal(err)
		}
		answeredBy(t, op, "1.0.0")
	})
	t.Run("restart after kill", func(t *testing.T) {
		pid := state().Pid
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, "killed process replaced", func() bool {
			st := state()
			return st.Status == bizpackhost.StatusRunning && st.Pid != pid && st.Pid != 0 && !alive(pid)
		})
		op := e.begin(t)
		if d, err := validateItems(op, 2); err != nil || !d.Allowed {
			t.Fatalf("after restart: %+v, %v", d, err)
		}
		answeredBy(t, op, "1.0.0")
	})
	t.Run("deadline", func(t *testing.T) {
		slow := v1
		slow.Env = map[string]string{"ORDER_LIMIT_DELAY_MS": "60000"}
		e.load(t, slow)
		pid := state().Pid
		_, err := validateItems(e.begin(t), 1)
		wantFailure(t, err, kernel.OutcomeTimeout)
		// A slow rule is not a dead process: it still answers its health
		// check and is not restarted.
		if st := state(); st.Restarts != 0 || st.Pid != pid {
			t.Fatalf("state %+v after a missed deadline, want the same process", st)
		}
	})
	t.Run("no health service", func(t *testing.T) {
		src, err := os.ReadFile(filepath.Join(nodeDir, "main.js"))
		if err != nil {
			t.Fatal(err)
		}
		const health = "server.addService(healthProto.Health.service"
		if !strings.Contains(string(src), health) {
			t.Fatal("main.js no longer registers the health service as this test expects")
		}
		p := filepath.Join(dir, "nohealth.tar.gz")
		sum := writeBundle(t, nodeDir, p, map[string]string{"main.js": strings.Replace(string(src), health, "if (false) "+health, 1),
			"bizpack.json": nodeManifest("3.0.0")})
		_, err = e.h.Load(context.Background(), bizpackhost.Spec{Name: "node-order-limit", Path: p, SHA256: sum})
		if err == nil || !strings.Contains(err.Error(), "grpc.health.v1.Health/Check (required") {
			t.Fatalf("Load = %v, want a refusal naming the missing health service", err)
		}
		if st := state(); st.Version != "1.0.0" || st.Status != bizpackhost.StatusRunning {
			t.Fatalf("state %+v: the version in force changed", st)
		}
	})
	t.Run("stop by Shutdown", func(t *testing.T) {
		pid := state().Pid
		e.h.Close()
		eventually(t, "process gone", func() bool { return !alive(pid) })
		if strings.Contains(logs.String(), "plugin failed to exit gracefully") {
			t.Fatal("the bizpack did not exit on plugin.GRPCController/Shutdown")
		}
	})
}

// A bundle that is refused says why, before any process runs or from what
// the process printed: an interpreter not allowed, a checksum mismatch, a
// missing file, a bundle without bundle.json, a crash at start.
func TestBundleRefusalsNameTheirCause(t *testing.T) {
	node := nodeOrSkip(t, false)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	bundle := func(name string, files map[string]string) bizpackhost.Spec {
		p := filepath.Join(dir, name+".tar.gz")
		return bizpackhost.Spec{Name: "crashy", Path: p, SHA256: writeBundle(t, src, p, files)}
	}
	good := map[string]string{"bundle.json": `{"interpreter": "node", "entry": "main.js"}`,
		"main.js": "console.error('starting up');\nthrow new TypeError('boom at start');\n"}
	crash := bundle("crash", good)
	python := bundle("python", map[string]string{"bundle.json": `{"interpreter": "python3", "entry": "main.py"}`, "main.py": ""})
	noEntry := bundle("noentry", map[string]string{"bundle.json": `{"interpreter": "node", "entry": "missing.js"}`})
	noManifest := bundle("nomanifest", map[string]string{"main.js": ""})
	escape := bundle("escape", map[string]string{"bundle.json": `{"interpreter": "node", "entry": "../main.js"}`})
	tampered := crash
	tampered.SHA256 = strings.Repeat("0", 64)
	missing := crash
	missing.Path = filepath.Join(dir, "nowhere.tar.gz")

	var logs lockedBuffer
	o := fast
	o.Interpreters = map[string]string{"node": node}
	o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := setup(t, o)
	for _, c := range []struct {
		name string
		spec bizpackhost.Spec
		want []string
	}{
		{"interpreter not allowed", python, []string{"interpreter \"python3\"", "allows [node]"}},
		{"checksum mismatch", tampered, []string{"checksum", "its SHA-256 is " + crash.SHA256}},
		{"missing file", missing, []string{"nowhere.tar.gz", "no such file"}},
		{"missing entry", noEntry, []string{"entry \"missing.js\""}},
		{"no bundle.json", noManifest, []string{"no bundle.json"}},
		{"entry outside the bundle", escape, []string{"entry \"../main.js\""}},
		{"crash at start", crash, []string{"handshake failed", "TypeError: boom at start", "starting up"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.h.Load(context.Background(), c.spec)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "boom at start") {
		t.Fatalf("the crash is not in the host's log at ERROR:\n%s", logs.String())
	}
}

// The example's protos are the published ones, unchanged.
func TestNodeBizpackProtosArePublished(t *testing.T) {
	for _, name := range []string{"bizpack.proto", "health.proto", "grpc_controller.proto"} {
		want, err := os.ReadFile(filepath.Join("../../extensions/proto", name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(nodeDir, "proto", name))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s/proto/%s differs from extensions/proto/%s: copy it again", nodeDir, name, name)
		}
	}
}
