package bizpackhost

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// Each stderr line of a bizpack reaches the host's log once, at a level
// that fits it: plain lines at info, crash-looking ones at error (and what
// follows a crash), lines go-plugin logs itself not again.
func TestStderrLineLevels(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []string // "LEVEL text" per logged line, in order
	}{
		{"plain", []string{"serving on /tmp/x"}, []string{"INFO serving on /tmp/x"}},
		{"info prefix", []string{"[INFO] ready"}, []string{"INFO [INFO] ready"}},
		{"debug and trace dropped", []string{"[DEBUG] x", "[TRACE] y"}, nil},
		{"warn and error left to go-plugin", []string{"[WARN] w", "[ERROR] e"}, nil},
		{"hclog JSON", []string{
			`{"@level":"info","@message":"m","@timestamp":"2026-12-06T08:00:00.000000Z"}`,
			`{"@level":"error","@message":"m","@timestamp":"2026-12-06T08:00:00.000000Z"}`,
			`{"@level":"debug","@message":"m","@timestamp":"2026-12-06T08:00:00.000000Z"}`},
			[]string{`INFO {"@level":"info","@message":"m","@timestamp":"2026-12-06T08:00:00.000000Z"}`}},
		{"JSON with a millisecond timestamp is a plain line to go-plugin", []string{
			`{"@level":"error","@message":"m","@timestamp":"2026-12-06T08:00:00.000Z"}`},
			[]string{`INFO {"@level":"error","@message":"m","@timestamp":"2026-12-06T08:00:00.000Z"}`}},
		{"node crash", []string{"/b/main.js:2", "  throw new TypeError('boom');", "TypeError: boom", "    at Object.<anonymous> (/b/main.js:2:7)", "Node.js v20.20.2"},
			[]string{"INFO /b/main.js:2", "INFO   throw new TypeError('boom');", "ERROR TypeError: boom",
				"ERROR     at Object.<anonymous> (/b/main.js:2:7)", "ERROR Node.js v20.20.2"}},
		{"python traceback", []string{"Traceback (most recent call last):", `  File "main.py", line 1`}, []string{
			"ERROR Traceback (most recent call last):", `ERROR   File "main.py", line 1`}},
		{"go panic left to go-plugin", []string{"panic: x", "goroutine 1 [running]:"}, nil},
		{"blank lines skipped", []string{"", "  "}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				}}))
			tail := newStderrTail()
			s := newStderrLines(newLogWriter(log, "p", 1000), tail)
			for _, l := range tc.lines {
				// go-plugin writes a line, then its newline.
				_, _ = s.Write([]byte(l))
				_, _ = s.Write([]byte("\n"))
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if l == "" {
					continue
				}
				r := slog.Record{}
				_ = r
				level := l[strings.Index(l, "level=")+6:]
				level = level[:strings.IndexByte(level, ' ')]
				text := l[strings.Index(l, "line=")+5:]
				if strings.HasPrefix(text, `"`) {
					text = unquote(t, text)
				}
				got = append(got, level+" "+text)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func unquote(t *testing.T, s string) string {
	t.Helper()
	var out strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
			out.WriteByte(s[i])
		case '"':
			return out.String()
		default:
			out.WriteByte(s[i])
		}
	}
	return out.String()
}

// A start failure carries the last lines, at most tailLines of them.
func TestStderrTailExplains(t *testing.T) {
	tail := newStderrTail()
	for i := range 30 {
		tail.add(strings.Repeat("x", i))
	}
	err := tail.explain(errString("handshake failed"))
	if !strings.HasPrefix(err.Error(), "handshake failed; its last stderr lines: "+strings.Repeat("x", 10)+" | ") ||
		strings.Count(err.Error(), " | ") != tailLines-1 {
		t.Fatalf("%v", err)
	}
	if err := newStderrTail().explain(errString("e")); err.Error() != "e" {
		t.Fatalf("%v", err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
