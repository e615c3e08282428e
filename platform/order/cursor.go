package order

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tmf-platform/tmf/platform/store"
)

// ErrCursorFilter is the error of a cursor given with another filter than
// the list that made it: it would page through the wrong list.
var ErrCursorFilter = errors.New("the cursor belongs to a list with another filter")

// filterKey binds a cursor to the filter of its list: a short hash of the
// filter's fields, so that the cursor stays opaque and short.
func (q Query) filterKey() string {
	key := q.Status + "\x00" + q.BizCode + "\x00" + q.BuyerID
	if q.ParentID != "" || q.TopLevel {
		key += "\x00parent=" + q.ParentID + "\x00top=" + strconv.FormatBool(q.TopLevel)
	}
	for _, name := range slices.Sorted(maps.Keys(q.Attrs)) {
		key += "\x00attr." + name + "=" + q.Attrs[name]
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// EncodeCursor makes the opaque page cursor for "after this order" in the
// list of q's filter.
func EncodeCursor(c store.Cursor, q Query) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + ":" +
		q.filterKey() + ":" + c.ID))
}

// DecodeCursor reads a cursor made by EncodeCursor for the list of q's
// filter: ErrCursorFilter when it was made for another filter.
func DecodeCursor(s string, q Query) (store.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.Cursor{}, err
	}
	parts := strings.SplitN(string(b), ":", 3)
	if len(parts) != 3 || parts[2] == "" {
		return store.Cursor{}, fmt.Errorf("malformed cursor")
	}
	n, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return store.Cursor{}, err
	}
	if parts[1] != q.filterKey() {
		return store.Cursor{}, ErrCursorFilter
	}
	return store.Cursor{CreatedAt: time.UnixMicro(n).UTC(), ID: parts[2]}, nil
}
