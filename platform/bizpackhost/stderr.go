package bizpackhost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/tmf-platform/tmf/platform/kernel"
)

// stderrLines receives a bizpack's raw stderr from go-plugin (a line, then
// its "\n", in separate writes) and logs the lines go-plugin's own reader
// would log below Warn, which the host's Warn-level hclog logger drops:
// plain lines of a bizpack in another language. Those are logged at Info,
// or at Error when they look like a crash (a stack trace, "Error:",
// "Traceback", "panic:"), and every line after a crash-looking one at Error
// too, as go-plugin does after "panic: ". Lines go-plugin logs itself
// ("[WARN]", "[ERROR]", hclog JSON at warn or error, panics) are left to
// it; "[DEBUG]", "[TRACE]" and hclog JSON below info are dropped. Every
// line also goes into tail, for start failures. The logWriter's rate limit
// applies to both paths.
type stderrLines struct {
	w    *logWriter
	tail *stderrTail

	mu      sync.Mutex
	buf     []byte
	crashed bool // a crash-looking line was seen: the rest is an error
	panic   bool // go-plugin saw "panic: " or "fatal error: " and logs the rest
}

func newStderrLines(w *logWriter, tail *stderrTail) *stderrLines {
	return &stderrLines{w: w, tail: tail}
}

func (s *stderrLines) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			if len(s.buf) > 64<<10 { // go-plugin splits longer lines itself
				s.line(string(s.buf))
				s.buf = s.buf[:0]
			}
			return len(p), nil
		}
		s.line(string(s.buf[:i]))
		s.buf = s.buf[i+1:]
	}
}

// crashLine matches what interpreters and runtimes print when they die.
var crashLine = regexp.MustCompile(`^(Uncaught|Traceback|panic:|fatal error:|FATAL|Segmentation fault|Aborted|node:internal)|^\s*[A-Za-z_.]*(Error|Exception)\b(:|$)|^\s+at \S|^\s+File "`)

func (s *stderrLines) line(text string) {
	text = strings.TrimRight(text, "\r")
	if strings.TrimSpace(text) == "" {
		return
	}
	s.tail.add(text)
	level, ok := s.level(text)
	if !ok {
		return
	}
	s.w.emit(level, text)
}

// level is the level this writer logs text at, and false where go-plugin's
// reader logs it itself or it is below Info.
func (s *stderrLines) level(text string) (slog.Level, bool) {
	if s.panic {
		return 0, false
	}
	var entry struct {
		Level     string `json:"@level"`
		Timestamp string `json:"@timestamp"`
	}
	if json.Unmarshal([]byte(text), &entry) == nil && entry.Level != "" && validHclogTime(entry.Timestamp) {
		switch strings.ToLower(entry.Level) {
		case "warn", "warning", "error":
			return 0, false // go-plugin logs it
		case "info":
			return slog.LevelInfo, true
		}
		return 0, false // trace, debug
	}
	switch {
	case strings.HasPrefix(text, "[WARN]"), strings.HasPrefix(text, "[ERROR]"):
		return 0, false
	case strings.HasPrefix(text, "panic: "), strings.HasPrefix(text, "fatal error: "):
		s.panic = true
		return 0, false
	case strings.HasPrefix(text, "[DEBUG]"), strings.HasPrefix(text, "[TRACE]"):
		return 0, false
	case strings.HasPrefix(text, "[INFO]"):
		return slog.LevelInfo, true
	}
	if s.crashed || crashLine.MatchString(text) {
		s.crashed = true
		return slog.LevelError, true
	}
	return slog.LevelInfo, true
}

// validHclogTime is go-plugin's test for an hclog JSON line's timestamp:
// a line whose @timestamp it cannot parse is a plain line to it.
func validHclogTime(ts string) bool {
	if ts == "" {
		return true
	}
	_, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", ts)
	return err == nil
}

// stderrTail keeps the last lines of a bizpack's stderr, so that a start
// that fails says what the bizpack said.
type stderrTail struct {
	mu    sync.Mutex
	lines []string
}

const tailLines = 20

func newStderrTail() *stderrTail { return &stderrTail{} }

func (t *stderrTail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, kernel.ClipText(line))
	if len(t.lines) > tailLines {
		t.lines = t.lines[len(t.lines)-tailLines:]
	}
}

// explain adds the last stderr lines to err, if there are any.
func (t *stderrTail) explain(err error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return err
	}
	return fmt.Errorf("%w; its last stderr lines: %s", err, strings.Join(t.lines, " | "))
}
