package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tmf-platform/tmf/platform/tracing"
)

func TestTracingSettings(t *testing.T) {
	t.Parallel()
	half := 0.5
	file := &tracing.Config{OTLPEndpoint: "http://file:4317", Sampler: tracing.SamplerAlwaysOn, Ratio: &half}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		file    *tracing.Config
		want    tracing.Config
		wantErr string
	}{
		{name: "off by default", want: tracing.Config{}},
		{name: "file", file: file, want: *file},
		{name: "flags win over the file", file: file, args: []string{"--otlp-endpoint", "https://flag:4318", "--otlp-protocol", "http",
			"--trace-ratio", "0.2"}, want: tracing.Config{OTLPEndpoint: "https://flag:4318", Protocol: "http", Sampler: tracing.SamplerAlwaysOn}},
		{name: "TMF_ variables are flags", file: file, env: map[string]string{"TMF_OTLP_ENDPOINT": "http://tmf:4317", "TMF_TRACE_SERVICE_NAME": "shop"},
			want: tracing.Config{OTLPEndpoint: "http://tmf:4317", Sampler: tracing.SamplerAlwaysOn, ServiceName: "shop"}},
		{name: "the file wins over OTEL_", file: file, env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4317",
			"OTEL_SERVICE_NAME": "from-otel", "OTEL_TRACES_SAMPLER": "always_off"},
			want: tracing.Config{OTLPEndpoint: "http://file:4317", Sampler: tracing.SamplerAlwaysOn, ServiceName: "from-otel"}},
		{name: "OTEL_ alone", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4317", "OTEL_TRACES_SAMPLER": "traceidratio",
			"OTEL_TRACES_SAMPLER_ARG": "0.01"}, want: tracing.Config{OTLPEndpoint: "http://otel:4317", Sampler: "traceidratio"}},
		{name: "bad endpoint", args: []string{"--otlp-endpoint", "collector:4317"}, wantErr: "otlpEndpoint"},
		{name: "bad sampler", env: map[string]string{"TMF_TRACE_SAMPLER": "often"}, wantErr: "sampler"},
		{name: "bad ratio", args: []string{"--trace-ratio", "2"}, wantErr: "ratio"},
		{name: "bad batch timeout", env: map[string]string{"TMF_TRACE_BATCH_TIMEOUT": "-1s"}, wantErr: "TMF_TRACE_BATCH_TIMEOUT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseServe(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parse: %v, want an error naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := o.Tracing.effective(tc.file)
			if got.OTLPEndpoint != tc.want.OTLPEndpoint || got.Protocol != tc.want.Protocol || got.Sampler != tc.want.Sampler ||
				got.ServiceName != tc.want.ServiceName {
				t.Fatalf("settings %+v, want %+v", got, tc.want)
			}
			if tc.name == "flags win over the file" && (got.Ratio == nil || *got.Ratio != 0.2) {
				t.Fatalf("ratio %v, want the flag's 0.2", got.Ratio)
			}
		})
	}
}

// The file's tracing key is decoded strictly, like the rest of the file.
func TestTracingFileKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"good.yaml": "tracing: {otlpEndpoint: http://c:4317, protocol: http, sampler: always_on, ratio: 0.3, serviceName: x}\n",
		"typo.yaml": "tracing: {otlpEndpiont: http://c:4317}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fc, err := loadFile(filepath.Join(dir, "good.yaml"))
	if err != nil || fc.Tracing == nil || fc.Tracing.Protocol != "http" || *fc.Tracing.Ratio != 0.3 || fc.Tracing.Check() != nil {
		t.Fatalf("good file: %+v, %v", fc.Tracing, err)
	}
	if _, err := loadFile(filepath.Join(dir, "typo.yaml")); err == nil || !strings.Contains(err.Error(), "otlpEndpiont") {
		t.Fatalf("typo: %v, want an error naming the unknown field", err)
	}
}
