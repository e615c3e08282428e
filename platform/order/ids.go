package order

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Shards is the number of buyer shards an order id can name. Orders are
// partitioned by buyer; the id carries the shard so that an order is found
// from its id alone.
const Shards = 64

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns an order id: "o" + 2 decimal digits of the buyer's shard +
// 8 bytes of time (milliseconds) and 8 random bytes in lowercase Crockford
// base32. Ids of one shard sort by creation time.
func NewID(buyerID string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli()))
	if _, err := rand.Read(b[8:]); err != nil {
		panic(fmt.Sprintf("order id: %v", err))
	}
	return fmt.Sprintf("o%02d%s", ShardOf(buyerID), idEncoding.EncodeToString(b[:]))
}

// ShardOf is the shard of a buyer.
func ShardOf(buyerID string) int {
	h := fnv.New32a()
	h.Write([]byte(buyerID))
	return int(h.Sum32() % Shards)
}

// ShardOfID reads the shard from an order id.
func ShardOfID(id string) (int, error) {
	if len(id) < 4 || !strings.HasPrefix(id, "o") {
		return 0, fmt.Errorf("malformed order id %q", id)
	}
	n, err := strconv.Atoi(id[1:3])
	if err != nil || n < 0 || n >= Shards {
		return 0, fmt.Errorf("malformed order id %q", id)
	}
	return n, nil
}
