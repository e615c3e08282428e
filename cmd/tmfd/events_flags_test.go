package main

import (
	"io"
	"testing"
	"time"
)

func TestEventsSettings(t *testing.T) {
	t.Parallel()
	file := &eventsFile{URL: "nats://file:4222", Stream: "FILE", SubjectPrefix: "file.events", MaxAge: duration(time.Hour),
		Replicas: 3, Lease: duration(5 * time.Second)}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    eventsOptions
		wantErr bool
	}{
		{name: "file only", want: eventsOptions{URL: "nats://file:4222", Lease: 5 * time.Second}},
		{name: "flag wins over file", args: []string{"--events", "nats://flag:4222", "--events-stream", "FLAG", "--events-max-backlog-age", "1m"},
			want: eventsOptions{URL: "nats://flag:4222", MaxBacklogAge: time.Minute, Lease: 5 * time.Second}},
		{name: "environment", env: map[string]string{"TMF_EVENTS": "nats://env:4222", "TMF_OUTBOX_LEASE": "3s", "TMF_EVENTS_REPLICAS": "5"},
			want: eventsOptions{URL: "nats://env:4222", Lease: 3 * time.Second}},
		{name: "bad duration", env: map[string]string{"TMF_EVENTS_MAX_AGE": "soon"}, wantErr: true},
		{name: "bad replicas", env: map[string]string{"TMF_EVENTS_REPLICAS": "0"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--max-unpaid-orders", "5"}, tc.args...)
			o, err := parseServe(args, func(k string) string { return tc.env[k] }, io.Discard)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parse: %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			got := o.Events.merge(file)
			if got.URL != tc.want.URL || got.MaxBacklogAge != tc.want.MaxBacklogAge || got.Lease != tc.want.Lease {
				t.Fatalf("settings %+v, want %+v", got, tc.want)
			}
			if tc.name == "flag wins over file" && (got.Stream.Name != "FLAG" || got.Stream.SubjectPrefix != "file.events" || got.Stream.MaxAge != time.Hour) {
				t.Fatalf("stream %+v", got.Stream)
			}
			if tc.name == "environment" && got.Stream.Replicas != 5 {
				t.Fatalf("replicas %d, want 5 from the environment", got.Stream.Replicas)
			}
		})
	}
}

func TestEventsFileKey(t *testing.T) {
	t.Parallel()
	var d duration
	if err := d.UnmarshalJSON([]byte(`"90s"`)); err != nil || time.Duration(d) != 90*time.Second {
		t.Fatalf("90s: %v %v", time.Duration(d), err)
	}
	for _, bad := range []string{`90`, `"-1s"`, `"later"`} {
		if err := d.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("%s accepted as a duration", bad)
		}
	}
}
