package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of the Standard Webhooks specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every endpoint secret: "whsec_" and the key in
// standard base64, as the Standard Webhooks specification writes them.
const SecretPrefix = "whsec_"

// SecretBytes is the length of a generated key; MinSecretBytes the shortest
// key a client may supply (the specification asks for 24 to 64 bytes).
const (
	SecretBytes    = 32
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock, either way, before Verify refuses it as a replay.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify and DecodeSecret; match them with errors.Is.
var (
	ErrSecret           = errors.New("webhooks: malformed secret")
	ErrMissingHeaders   = errors.New("webhooks: webhook-id, webhook-timestamp or webhook-signature missing")
	ErrTimestamp        = errors.New("webhooks: timestamp malformed or outside the tolerance")
	ErrNoValidSignature = errors.New("webhooks: no matching signature")
)

// NewSecret returns a fresh secret: SecretPrefix and SecretBytes random
// bytes in base64.
func NewSecret() (string, error) {
	var b [SecretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webhooks: new secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:]), nil
}

// DecodeSecret returns the HMAC key of a secret written "whsec_<base64>"
// (the prefix may be left out). It fails with ErrSecret when the base64 is
// malformed; it does not check the key's length (see CheckSecret).
func DecodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("%w: want %s followed by standard base64", ErrSecret, SecretPrefix)
	}
	return key, nil
}

// CheckSecret checks a secret a client supplies: "whsec_" and base64 of
// MinSecretBytes to MaxSecretBytes bytes.
func CheckSecret(secret string) error {
	if !strings.HasPrefix(secret, SecretPrefix) {
		return fmt.Errorf("%w: want %s followed by base64", ErrSecret, SecretPrefix)
	}
	key, err := DecodeSecret(secret)
	if err != nil {
		return err
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return fmt.Errorf("%w: the key is %d bytes; want %d to %d", ErrSecret, len(key), MinSecretBytes, MaxSecretBytes)
	}
	return nil
}

// sign is the "v1,<base64>" signature of one message with one key: the
// HMAC-SHA256 of "id.timestamp.body".
func sign(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign returns the webhook-signature header value of a message signed with
// every secret given, space-separated (several during a rotation's grace
// period, as the specification allows).
func Sign(id string, ts time.Time, body []byte, secrets ...string) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := DecodeSecret(s)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sign(key, id, ts.Unix(), body))
	}
	return strings.Join(sigs, " "), nil
}

// Verify checks a delivery as a receiver gets it: the webhook-id,
// webhook-timestamp and webhook-signature headers and the raw body. It
// succeeds when one of the header's "v1,…" signatures is the HMAC-SHA256,
// keyed by secret, of "id.timestamp.body" (compared in constant time) and
// the timestamp is within tolerance of the receiver's clock. tolerance 0
// takes DefaultTolerance; a negative tolerance skips the timestamp check
// (to check a stored delivery; never on a live endpoint, where it opens the
// door to replays). The error matches ErrSecret, ErrMissingHeaders,
// ErrTimestamp or ErrNoValidSignature. Receivers should also drop a
// webhook-id they already processed: deliveries are at least once.
func Verify(secret string, headers http.Header, body []byte, tolerance time.Duration) error {
	return verifyAt(secret, headers, body, tolerance, time.Now())
}

func verifyAt(secret string, headers http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	key, err := DecodeSecret(secret)
	if err != nil {
		return err
	}
	id, tsText, sigs := headers.Get(HeaderID), headers.Get(HeaderTimestamp), headers.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not a Unix time in seconds", ErrTimestamp, tsText)
	}
	if tolerance == 0 {
		tolerance = DefaultTolerance
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
			return fmt.Errorf("%w: %s from now", ErrTimestamp, d.Round(time.Second))
		}
	}
	want := sign(key, id, ts, body)
	for s := range strings.FieldsSeq(sigs) {
		if strings.HasPrefix(s, "v1,") && hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrNoValidSignature
}
