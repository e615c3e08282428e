package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestWebhookFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want func(*webhookOptions)
		err  string
	}{
		{"defaults", nil, nil, func(*webhookOptions) {}, ""},
		{"flags", []string{"--webhooks-allow-private", "--webhooks-schedule", "1s,2s", "--webhooks-timeout", "3s"}, nil,
			func(o *webhookOptions) { o.AllowPrivate, o.Schedule, o.Timeout = true, "1s,2s", 3*time.Second }, ""},
		{"environment", nil, map[string]string{"TMF_WEBHOOKS_ALLOW_PRIVATE": "true", "TMF_WEBHOOKS_DISABLE_AFTER": "1h",
			"TMF_WEBHOOKS_CONCURRENCY": "2", "TMF_WEBHOOKS_MAX_ENDPOINTS": "7"},
			func(o *webhookOptions) {
				o.AllowPrivate, o.DisableAfter, o.Concurrency, o.MaxEndpoints = true, time.Hour, 2, 7
			}, ""},
		{"bad schedule", []string{"--webhooks-schedule", "5s,soon"}, nil, nil, "--webhooks-schedule"},
		{"empty schedule step", []string{"--webhooks-schedule", "5s,,1m"}, nil, nil, "--webhooks-schedule"},
		{"bad variable", nil, map[string]string{"TMF_WEBHOOKS_TIMEOUT": "-1s"}, nil, "TMF_WEBHOOKS_TIMEOUT"},
		{"bad allow", nil, map[string]string{"TMF_WEBHOOKS_ALLOW_PRIVATE": "maybe"}, nil, "TMF_WEBHOOKS_ALLOW_PRIVATE"},
		{"zero concurrency", []string{"--webhooks-concurrency", "0"}, nil, nil, "must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseServe(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v; want %q", err, tc.err)
				}
				return
			}
			want := defaultWebhookOptions()
			tc.want(&want)
			if err != nil || got.Webhooks != want {
				t.Fatalf("got %+v, %v; want %+v", got.Webhooks, err, want)
			}
		})
	}
}
