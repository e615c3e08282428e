package webhooks

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test vector of the Standard Webhooks specification (its libraries'
// tests share it): secret, message id, timestamp, body and signature.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func vectorHeaders(id, ts, sig string) http.Header {
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, sig)
	return h
}

func TestSignMatchesTheSpecificationVector(t *testing.T) {
	got, err := Sign(vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody), vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got != vectorSignature {
		t.Fatalf("Sign = %q; want %q", got, vectorSignature)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	at := time.Unix(vectorTimestamp, 0)
	other, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	otherSig, _ := Sign(vectorID, at, []byte(vectorBody), other)
	for _, tc := range []struct {
		name      string
		secret    string
		headers   http.Header
		body      string
		now       time.Time
		tolerance time.Duration
		want      error
	}{
		{"vector", vectorSecret, vectorHeaders(vectorID, "1614265330", vectorSignature), vectorBody, at, 0, nil},
		{"secret without prefix", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", vectorHeaders(vectorID, "1614265330", vectorSignature), vectorBody, at, 0, nil},
		{"within tolerance", vectorSecret, vectorHeaders(vectorID, "1614265330", vectorSignature), vectorBody, at.Add(4 * time.Minute), 0, nil},
		{"one of several signatures", vectorSecret, vectorHeaders(vectorID, "1614265330", otherSig+" "+vectorSignature), vectorBody, at, 0, nil},
		{"v2 ignored", vectorSecret, vectorHeaders(vectorID, "1614265330", "v2,"+strings.TrimPrefix(vectorSignature, "v1,")), vectorBody, at, 0, ErrNoValidSignature},
		{"body changed", vectorSecret, vectorHeaders(vectorID, "1614265330", vectorSignature), `{"test": 2432232315}`, at, 0, ErrNoValidSignature},
		{"id changed", vectorSecret, vectorHeaders("msg_other", "1614265330", vectorSignature), vectorBody, at, 0, ErrNoValidSignature},
		{"timestamp changed", vectorSecret, vectorHeaders(vectorID, "1614265331", vectorSignature), vectorBody, at, 0, ErrNoValidSignature},
		{"other secret", other, vectorHeaders(vectorID, "1614265330", vectorSignature), vectorBody, at, 0, ErrNoValidSignature},
		{"too old", vectorSecret, vectorHeaders(vectorID, "1614265330", vectorSignature), vectorBody, at.Add(6 * time.Minute), 0, ErrTimestamp},
		{"too new", vectorSecret, vectorHeaders(vectorID, "1614265330", vectorSignature), vectorBody, at.Add(-6 * time.Minute), 0, ErrTimestamp},
		{"no tolerance check", vectorSecret, vectorHeaders(vectorID, "1614265330", vectorSignature), vectorBody, at.Add(1000 * time.Hour), -1, nil},
		{"timestamp not a number", vectorSecret, vectorHeaders(vectorID, "soon", vectorSignature), vectorBody, at, 0, ErrTimestamp},
		{"headers missing", vectorSecret, vectorHeaders(vectorID, "1614265330", ""), vectorBody, at, 0, ErrMissingHeaders},
		{"secret malformed", "whsec_%%%", vectorHeaders(vectorID, "1614265330", vectorSignature), vectorBody, at, 0, ErrSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := verifyAt(tc.secret, tc.headers, []byte(tc.body), tc.tolerance, tc.now)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("verify: %v; want %v", err, tc.want)
			}
		})
	}
	// The exported form with the vector, skipping the timestamp check.
	if err := Verify(vectorSecret, vectorHeaders(vectorID, "1614265330", vectorSignature), []byte(vectorBody), -1); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSecret(s); err != nil {
		t.Fatalf("a new secret: %v", err)
	}
	if s2, _ := NewSecret(); s2 == s {
		t.Fatal("two new secrets are equal")
	}
	for _, bad := range []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2hvcnQ=", "whsec_not base64!", "whsec_"} {
		if err := CheckSecret(bad); !errors.Is(err, ErrSecret) {
			t.Errorf("CheckSecret(%q) = %v; want ErrSecret", bad, err)
		}
	}
}

// BenchmarkSignAndVerify: the cost of signing one 1 KiB delivery and of a
// receiver verifying it.
func BenchmarkSignAndVerify(b *testing.B) {
	secret, _ := NewSecret()
	body := []byte(strings.Repeat("x", 1024))
	now := time.Now()
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			_, _ = Sign("evt", now, body, secret)
		}
	})
	sig, _ := Sign("evt", now, body, secret)
	h := vectorHeaders("evt", strconv.FormatInt(now.Unix(), 10), sig)
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if err := Verify(secret, h, body, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
