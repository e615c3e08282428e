package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/tmf-platform/tmf/platform/kernel"
)

//go:embed default-config.yaml
var defaultConfig []byte

// loadConfig reads a kernel configuration from a YAML or JSON file, or the
// built-in default when path is empty. Decoding is strict: an unknown field
// is an error naming it.
func loadConfig(path string) (kernel.Config, error) {
	raw := defaultConfig
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return kernel.Config{}, err
		}
		raw = b
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return kernel.Config{}, fmt.Errorf("config %s: %w", describe(path), err)
	}
	var cfg kernel.Config
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return kernel.Config{}, fmt.Errorf("config %s: %w", describe(path), err)
	}
	return cfg, nil
}

func describe(path string) string {
	if path == "" {
		return "(built-in default)"
	}
	return path
}
