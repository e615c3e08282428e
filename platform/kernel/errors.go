package kernel

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tmf-platform/tmf/platform/identity"
)

// Stable error codes of the kernel, for the API's problem details.
const (
	CodeExtensionFailed  = "extension_failed"
	CodeExtensionTimeout = "extension_timeout"
	CodeNoAnswer         = "extension_no_answer"
	CodeUnknownPoint     = "extension_unknown_point"
	CodeConfigInvalid    = "config_invalid"
	CodeIdentityUnknown  = "identity_unknown"
	CodeIdentityDisabled = "identity_disabled"
)

// ErrDeadline is the cause of a timeout: the implementation answered after
// the point's deadline, or not at all.
var ErrDeadline = errors.New("deadline exceeded")

// PanicError is the cause recorded when an implementation panics.
type PanicError struct{ Value any }

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// ExtensionError is a call that failed under the Fail policy. It names the
// implementation that failed.
type ExtensionError struct {
	Point   string
	Impl    string
	Layer   Layer
	Source  string
	Outcome Outcome
	Cause   error
}

func (e *ExtensionError) Error() string {
	return fmt.Sprintf("extension point %s: %s implementation %s (%s): %s: %v", e.Point, e.Layer, e.Impl, e.Source, e.Outcome, e.Cause)
}

func (e *ExtensionError) Unwrap() error { return e.Cause }

// Code is CodeExtensionTimeout for timeouts, CodeExtensionFailed otherwise.
func (e *ExtensionError) Code() string {
	if e.Outcome == OutcomeTimeout {
		return CodeExtensionTimeout
	}
	return CodeExtensionFailed
}

// NoAnswerError is a "first" point at which no implementation answered:
// every one skipped or was left out by its failure policy.
type NoAnswerError struct {
	Point    string
	Identity identity.Code
}

func (e *NoAnswerError) Error() string {
	return fmt.Sprintf("extension point %s: no implementation answered for identity %s", e.Point, e.Identity)
}

// Code is CodeNoAnswer.
func (e *NoAnswerError) Code() string { return CodeNoAnswer }

// UnknownPointError is a call of a point that the kernel's catalogue does not
// hold.
type UnknownPointError struct{ Point string }

func (e *UnknownPointError) Error() string {
	return fmt.Sprintf("extension point %s is not in the kernel's catalogue", e.Point)
}

// Code is CodeUnknownPoint.
func (e *UnknownPointError) Code() string { return CodeUnknownPoint }

// DisabledError is an operation begun for a disabled identity.
type DisabledError struct{ Identity identity.Code }

func (e *DisabledError) Error() string {
	return fmt.Sprintf("business identity %s is disabled", e.Identity)
}

// Code is CodeIdentityDisabled.
func (e *DisabledError) Code() string { return CodeIdentityDisabled }

// Problem is one thing wrong with a configuration. Where two sides clash,
// both are named in Message.
type Problem struct {
	// Identity the problem was found in; Root for global problems.
	Identity identity.Code `json:"identity"`
	// Point concerned, if any.
	Point string `json:"point,omitempty"`
	// Kind is a stable code: "unknown_product", "unknown_point",
	// "unknown_impl", "type_mismatch", "conflict", "bad_args",
	// "unknown_bizpack", "bizpack_identity", "lifecycle", "identity", "rules",
	// "duplicate".
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Identity != identity.Root {
		return fmt.Sprintf("%s: %s", p.Identity, p.Message)
	}
	return p.Message
}

// ConfigError is a configuration refused whole, with every problem named.
type ConfigError struct {
	Revision int64
	Problems []Problem
}

func (e *ConfigError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return fmt.Sprintf("configuration revision %d refused (%d problems): %s", e.Revision, len(e.Problems), strings.Join(parts, "; "))
}

// Code is CodeConfigInvalid.
func (e *ConfigError) Code() string { return CodeConfigInvalid }

// Outcome classifies one implementation call.
type Outcome uint8

const (
	OutcomeOK Outcome = iota
	OutcomeSkip
	OutcomeVeto
	OutcomeError
	OutcomePanic
	OutcomeTimeout
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "skip", "veto", "error", "panic", "timeout"}

func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", o)
}

// MarshalText writes the outcome's name.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Failed reports whether the outcome is a failure the policy handles.
func (o Outcome) Failed() bool { return o >= OutcomeError }

// Record is one implementation call in an operation's trace.
type Record struct {
	Point   string        `json:"point"`
	Impl    string        `json:"impl"`
	Layer   Layer         `json:"layer"`
	Source  string        `json:"source"`
	Version string        `json:"version,omitempty"`
	Origin  identity.Code `json:"origin"`
	// Duration of the call as the kernel measured it.
	Duration time.Duration `json:"duration"`
	Outcome  Outcome       `json:"outcome"`
	// Err is the failure, or the reason of a veto; nil otherwise.
	Err error `json:"-"`
}

// MarshalJSON writes the record with Err as the string "error".
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record
	out := struct {
		plain
		Error string `json:"error,omitempty"`
	}{plain: plain(r)}
	if r.Err != nil {
		out.Error = ClipText(r.Err.Error())
	}
	return json.Marshal(out)
}
