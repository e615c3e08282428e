#!/bin/sh
# scaleout.sh: orders/s of one tmfd on one PostgreSQL database without and
# with the outbox relay to NATS JetStream and the order read model
# (docs/performance.md "Scaling out"), and the read model's catch-up after
# the load. Needs psql/createdb on the local PostgreSQL (trust, user
# postgres) and NATS JetStream on 127.0.0.1:4222. From the repository root:
#   sh cmd/tmfbench/scaleout.sh [buyers] [duration]
set -eu
BUYERS=${1:-16}
DURATION=${2:-20s}
PG=postgres://postgres@127.0.0.1:5432
TOKEN=scale-out-bench-admin-token-0123456789
TAG=$$
OUT=$(mktemp -d)
go build -o "$OUT/tmfd" ./cmd/tmfd
go build -o "$OUT/tmfbench" ./cmd/tmfbench
cleanup() {
	[ -n "${PID:-}" ] && kill "$PID" 2>/dev/null || true
	for db in tmf_sb_plain_$TAG tmf_sb_rm_$TAG tmf_sb_rmdb_$TAG; do
		psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	done
}
trap cleanup EXIT
for mode in plain rm; do
	db=tmf_sb_${mode}_$TAG
	createdb -h 127.0.0.1 -U postgres "$db"
	set -- --listen 127.0.0.1:18731 --db "$PG/$db?sslmode=disable" --admin-token "$TOKEN" --rate-principal 0 \
		--bizpack-dir "$OUT/bizpacks-$mode" --max-unpaid-orders 1000000 --max-unpaid-quantity 100000000
	if [ "$mode" = rm ]; then
		createdb -h 127.0.0.1 -U postgres tmf_sb_rmdb_$TAG
		set -- "$@" --events nats://127.0.0.1:4222 --events-stream "SCALEOUT_$TAG" --events-subject-prefix "scaleout$TAG.events" --events-max-age 10m \
			--read-model-db "$PG/tmf_sb_rmdb_$TAG?sslmode=disable"
	fi
	"$OUT/tmfd" serve "$@" >"$OUT/tmfd-$mode.log" 2>&1 &
	PID=$!
	until curl -sf http://127.0.0.1:18731/readyz >/dev/null; do sleep 0.2; done
	echo "== $mode: $*" | sed "s/$TOKEN/TOKEN/"
	"$OUT/tmfbench" --url http://127.0.0.1:18731 --admin-token "$TOKEN" --buyers "$BUYERS" --duration "$DURATION" \
		--skus 50 --hot 0 --pay 1 | grep -v '^t='
	if [ "$mode" = rm ]; then
		ended=$(date +%s.%N)
		until curl -sf -H "Authorization: Bearer $TOKEN" http://127.0.0.1:18731/v1/admin/readmodel | grep -q '"pendingEvents":0,'; do sleep 0.1; done
		caught=$(date +%s.%N)
		echo "read model: no event pending $(echo "$caught - $ended" | bc) s after the load"
		curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:18731/v1/admin/readmodel; echo
		curl -s http://127.0.0.1:18731/metrics | grep -E '^tmf_readmodel_(lag_seconds_(bucket|sum|count)|events_total)'
		"$OUT/tmfd" readmodel verify --db "$PG/$db?sslmode=disable" --read-model-db "$PG/tmf_sb_rmdb_$TAG?sslmode=disable"
	fi
	kill "$PID"; wait "$PID" 2>/dev/null || true
	PID=
done
echo "the stream SCALEOUT_$TAG is left behind; its events expire after 10 minutes"
