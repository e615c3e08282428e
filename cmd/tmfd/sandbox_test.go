package main

import (
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/platform/bizpackhost"
)

func TestSandboxSettings(t *testing.T) {
	lookup := func(name string) (*user.User, error) {
		switch name {
		case "nobody":
			return &user.User{Uid: "65534", Gid: "65534"}, nil
		case "tmf-bizpacks":
			return &user.User{Uid: "990", Gid: "980"}, nil
		}
		return nil, user.UnknownUserError(name)
	}
	noNobody := func(name string) (*user.User, error) { return nil, user.UnknownUserError(name) }
	for _, tc := range []struct {
		name   string
		c      sandboxConfig
		euid   int
		lookup func(string) (*user.User, error)
		want   bizpackhost.Options
		warn   string
		err    string
	}{
		{"a root server runs bizpacks as nobody", sandboxConfig{}, 0, lookup,
			bizpackhost.Options{RunAs: &bizpackhost.User{UID: 65534, GID: 65534}}, "", ""},
		{"no nobody: 65534 with a warning", sandboxConfig{}, 0, noNobody,
			bizpackhost.Options{RunAs: &bizpackhost.User{UID: 65534, GID: 65534}}, "no user nobody", ""},
		{"explicit root, loudly", sandboxConfig{RunAs: "root"}, 0, lookup, bizpackhost.Options{}, "bizpacks run as root", ""},
		{"a named user", sandboxConfig{RunAs: "tmf-bizpacks"}, 0, lookup,
			bizpackhost.Options{RunAs: &bizpackhost.User{UID: 990, GID: 980}}, "", ""},
		{"uid:gid", sandboxConfig{RunAs: "1234:5678"}, 0, lookup,
			bizpackhost.Options{RunAs: &bizpackhost.User{UID: 1234, GID: 5678}}, "", ""},
		{"an unknown user", sandboxConfig{RunAs: "ghost"}, 0, lookup, bizpackhost.Options{}, "", "ghost"},
		{"a server that is not root runs them as itself", sandboxConfig{}, 1000, lookup, bizpackhost.Options{}, "", ""},
		{"nor may it name itself", sandboxConfig{RunAs: "990:980"}, 990, lookup, bizpackhost.Options{}, "", ""},
		{"nor another user", sandboxConfig{RunAs: "tmf-bizpacks"}, 1000, lookup, bizpackhost.Options{}, "", "only a root server"},
		{"limits", sandboxConfig{RunAs: "root", Memory: "512Mi", CPUWeight: 20, CPUMax: 1500, Processes: 64, OpenFiles: 256, LogRate: 10}, 0, lookup,
			bizpackhost.Options{Limits: bizpackhost.Limits{Memory: 512 << 20, CPUWeight: 20, CPUMax: 1500, Processes: 64, OpenFiles: 256}, LogRate: 10}, "as root", ""},
		{"switches", sandboxConfig{RunAs: "root", Network: "allow", Cgroups: "off", Landlock: "off"}, 0, lookup,
			bizpackhost.Options{Network: true, NoCgroups: true, NoLandlock: true}, "as root", ""},
		{"bad memory", sandboxConfig{Memory: "lots"}, 0, lookup, bizpackhost.Options{}, "", "512Mi"},
		{"bad weight", sandboxConfig{CPUWeight: 20000}, 0, lookup, bizpackhost.Options{}, "", "1 to 10000"},
		{"bad network", sandboxConfig{Network: "some"}, 0, lookup, bizpackhost.Options{}, "", "manifest or allow"},
		{"bad cgroups", sandboxConfig{Cgroups: "v3"}, 0, lookup, bizpackhost.Options{}, "", "auto or off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			got, err := tc.c.hostOptions(tc.euid, tc.lookup, slog.New(slog.NewTextHandler(&logs, nil)))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got.RunAs == nil) != (tc.want.RunAs == nil) || got.RunAs != nil && *got.RunAs != *tc.want.RunAs {
				t.Errorf("runAs %+v, want %+v", got.RunAs, tc.want.RunAs)
			}
			got.RunAs, tc.want.RunAs = nil, nil
			if got.Limits != tc.want.Limits || got.LogRate != tc.want.LogRate || got.Network != tc.want.Network ||
				got.NoCgroups != tc.want.NoCgroups || got.NoLandlock != tc.want.NoLandlock {
				t.Errorf("options %+v, want %+v", got, tc.want)
			}
			if tc.warn == "" && strings.Contains(logs.String(), "WARN") || tc.warn != "" && !strings.Contains(logs.String(), tc.warn) {
				t.Errorf("log %q, want warning %q", logs.String(), tc.warn)
			}
		})
	}
}

// Flags beat TMF_BIZPACK_* variables, which beat the file's section.
func TestSandboxFlagsOverrideTheFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tmfd.yaml")
	if err := os.WriteFile(cfg, []byte("revision: 1\nsandbox:\n  runAs: root\n  memory: 256Mi\n  processes: 100\n  cpuWeight: 30\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file, err := loadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o, err := parseServe([]string{"--bizpack-memory", "1Gi", "--bizpack-cgroups", "off"}, func(k string) string {
		return map[string]string{"TMF_BIZPACK_MEMORY": "2Gi", "TMF_BIZPACK_PROCESSES": "64"}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got := file.Sandbox.over(o.Sandbox)
	want := sandboxConfig{RunAs: "root", Memory: "1Gi", Processes: 64, CPUWeight: 30, Cgroups: "off"}
	if got != want {
		t.Fatalf("sandbox %+v, want %+v", got, want)
	}
	// An unknown field of the section is an error naming it.
	if err := os.WriteFile(cfg, []byte("revision: 1\nsandbox:\n  memroy: 1Gi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadFile(cfg); err == nil || !strings.Contains(err.Error(), "memroy") {
		t.Fatalf("a misspelt field: %v", err)
	}
	if _, err := parseServe([]string{"--bizpack-processes", "many"}, func(string) string { return "" }, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "bizpack-processes") {
		t.Fatalf("a bad number: %v", err)
	}
}
