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
	// Sandbox limits and confines every bizpack process (sandbox.go).
	Sandbox sandboxConfig `json:"sandbox,omitzero"`
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
	for i, b := range cfg.Bizpacks {
		if b.Path != "" && !filepath.IsAbs(b.Path) && path != "" {
			cfg.Bizpacks[i].Path = filepath.Join(filepath.Dir(path), b.Path)
		}
		for j, d := range b.ReadWrite {
			if d != "" && !filepath.IsAbs(d) && path != "" {
				cfg.Bizpacks[i].ReadWrite[j] = filepath.Join(filepath.Dir(path), d)
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
