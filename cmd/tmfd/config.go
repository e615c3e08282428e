package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/tmf-platform/tmf/platform/bizpackhost"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/tracing"
)

//go:embed default-config.yaml
var defaultConfig []byte

// fileConfig is what a configuration file holds: the kernel's
// configuration (identities, bindings, rules) and the bizpack binaries the
// server may run.
type fileConfig struct {
	kernel.Config
	// Bizpacks the identities may bind; relative paths are relative to the
	// file's directory.
	Bizpacks []bizpackhost.Spec `json:"bizpacks,omitempty"`
	// Events: the outbox relay and NATS JetStream (flags win; events.go).
	Events *eventsFile `json:"events,omitempty"`
	// ReadModel: the order read model's database (the flag wins; readmodel.go).
	ReadModel *readModelFile `json:"readModel,omitempty"`
	// Replicas: postgres:// DSNs of the order database's read replicas
	// (the flags win; replicas.go).
	Replicas []string `json:"replicas,omitempty"`
	// Stock: the stock database (the flags win; stockdb.go).
	Stock *stockFile `json:"stock,omitempty"`

	// BizpackInterpreters are the interpreters a bizpack bundle may name,
	// each an absolute path ({"node": "/usr/bin/node"}); none by default.
	BizpackInterpreters map[string]string `json:"bizpackInterpreters,omitempty"`
	// PprofListen: as --pprof-listen (the flag and TMF_PPROF_LISTEN win).
	PprofListen string `json:"pprofListen,omitempty"`
	// Sandbox limits and confines every bizpack process (sandbox.go).
	Sandbox sandboxConfig `json:"sandbox,omitzero"`
	// Tracing: OpenTelemetry export (flags win; tracing.go).
	Tracing *tracing.Config `json:"tracing,omitempty"`
}

// loadConfig reads a kernel configuration from a YAML or JSON file, or the
// built-in default when path is empty. Decoding is strict: an unknown field
// is an error naming it.
func loadConfig(path string) (kernel.Config, error) {
	fc, err := loadFile(path)
	return fc.Config, err
}

// loadFile reads the whole configuration file, bizpacks included.
func loadFile(path string) (fileConfig, error) {
	raw := defaultConfig
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fileConfig{}, err
		}
		raw = b
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return fileConfig{}, fmt.Errorf("config %s: %w", describe(path), err)
	}
	var cfg fileConfig
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return fileConfig{}, fmt.Errorf("config %s: %w", describe(path), err)
	}
	// Relative to the file's directory, made absolute: with a relative
	// --config, filepath.Join(".", "pack") would be "pack", which exec
	// would look up in $PATH.
	base := ""
	if path != "" {
		if abs, err := filepath.Abs(path); err == nil {
			base = filepath.Dir(abs)
		}
	}
	for i, b := range cfg.Bizpacks {
		if b.Path != "" && !filepath.IsAbs(b.Path) && base != "" {
			cfg.Bizpacks[i].Path = filepath.Join(base, b.Path)
		}
		if b.Dir != "" && !filepath.IsAbs(b.Dir) && base != "" {
			cfg.Bizpacks[i].Dir = filepath.Join(base, b.Dir)
		}
		for j, d := range b.ReadWrite {
			if d != "" && !filepath.IsAbs(d) && base != "" {
				cfg.Bizpacks[i].ReadWrite[j] = filepath.Join(base, d)
			}
		}
	}
	return cfg, nil
}

func describe(path string) string {
	if path == "" {
		return "(built-in default)"
	}
	return path
}
