package order

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tmf-platform/tmf/platform/store"
)

// EncodeCursor makes the opaque page cursor for "after this order".
func EncodeCursor(c store.Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + ":" + c.ID))
}

// DecodeCursor reads a cursor made by EncodeCursor.
func DecodeCursor(s string) (store.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.Cursor{}, err
	}
	micros, id, ok := strings.Cut(string(b), ":")
	if !ok || id == "" {
		return store.Cursor{}, fmt.Errorf("malformed cursor")
	}
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return store.Cursor{}, err
	}
	return store.Cursor{CreatedAt: time.UnixMicro(n).UTC(), ID: id}, nil
}
