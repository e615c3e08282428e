package order

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tmf-platform/tmf/platform/store"
)

// ViewOf is the API's view of a stored order (one read from a read model
// or a cache) under the plans in force, as Get shows it.
func (s *Service) ViewOf(o store.Order) View { return viewOf(o, s.lifecycleOf(o.BizCode)) }

// SearchAttrs checks attribute filters and turns their values into the
// index's canonical text, as List does (attribute_not_searchable for a
// name no identity listed declares searchable).
func (s *Service) SearchAttrs(bizCode string, attrs map[string]string) (map[string]string, error) {
	return s.searchFilter(bizCode, attrs)
}

// keyWith is the filter key of q with extra filters (a canonical text of
// the filters only a read model serves); with none it is q's own, so a
// cursor stays good whether the read model or the order store answered
// the page before.
func (q Query) keyWith(extra string) string {
	if extra == "" {
		return q.filterKey()
	}
	sum := sha256.Sum256([]byte(q.filterKey() + "\x00" + extra))
	return hex.EncodeToString(sum[:8])
}

// EncodeCursorWith is EncodeCursor for a list with extra filters (see
// keyWith); the format is EncodeCursor's.
func EncodeCursorWith(c store.Cursor, q Query, extra string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + ":" +
		q.keyWith(extra) + ":" + c.ID))
}

// DecodeCursorWith is DecodeCursor for a list with extra filters.
func DecodeCursorWith(s string, q Query, extra string) (store.Cursor, error) {
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
	if parts[1] != q.keyWith(extra) {
		return store.Cursor{}, ErrCursorFilter
	}
	return store.Cursor{CreatedAt: time.UnixMicro(n).UTC(), ID: parts[2]}, nil
}
