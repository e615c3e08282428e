#!/usr/bin/env bash
# pg-replica.sh: make the local PostgreSQL cluster "main" (127.0.0.1:5432)
# stream to a hot standby cluster "replica" on 127.0.0.1:5433, for the read
# replica tests (TMF_TEST_POSTGRES_REPLICA; docs/operations.md "Read
# replicas"). Run as root on a Debian/Ubuntu PostgreSQL (pg_createcluster,
# pg_ctlcluster). Idempotent: a standby that already streams is left alone;
# one that stopped is started; one that cannot follow the primary any more
# (its WAL was recycled, it was promoted) is made again from a base backup.
# The primary already trusts local users; this adds the same trust for
# replication connections from 127.0.0.1 and changes nothing else on it.
set -euo pipefail

version="${PG_VERSION:-$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)}"
primary_port="${PG_PRIMARY_PORT:-5432}"
port="${PG_REPLICA_PORT:-5433}"
name="${PG_REPLICA_CLUSTER:-replica}"
[ -n "$version" ] || { echo "pg-replica: no PostgreSQL cluster in /etc/postgresql" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "pg-replica: run as root" >&2; exit 1; }

primary() { psql -h 127.0.0.1 -p "$primary_port" -U postgres -d postgres -Atqc "$1"; }
replica() { psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc "$1" 2>/dev/null; }
as_postgres() { runuser -u postgres -- "$@"; }

pg_isready -q -h 127.0.0.1 -p "$primary_port" || { echo "pg-replica: the primary on :$primary_port is not running" >&2; exit 1; }

# The primary: replication connections from 127.0.0.1 ("all" in pg_hba
# does not cover them).
hba="$(primary 'SHOW hba_file')"
if ! grep -Eq '^[[:space:]]*host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
	echo "host replication all 127.0.0.1/32 trust" >>"$hba"
	primary 'SELECT pg_reload_conf()' >/dev/null
fi

streaming() {
	[ "$(replica 'SELECT pg_is_in_recovery()')" = t ] &&
		[ "$(replica "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")" = 1 ]
}

# A hot standby needs these at least as high as on the primary (else its
# replay pauses at the primary's parameter change).
settings="max_connections max_worker_processes max_wal_senders max_prepared_transactions max_locks_per_transaction"
settings_ok() {
	for setting in $settings; do
		[ "$(replica "SHOW $setting")" -ge "$(primary "SHOW $setting")" ] 2>/dev/null || return 1
	done
}

if pg_lsclusters -h | awk -v v="$version" -v n="$name" '$1 == v && $2 == n { found = 1 } END { exit !found }'; then
	pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start >/dev/null 2>&1 || true
	for _ in $(seq 20); do streaming && settings_ok && { echo "pg-replica: $name on :$port streams from :$primary_port"; exit 0; }; sleep 1; done
	echo "pg-replica: $name on :$port does not stream; making it again" >&2
	pg_ctlcluster --skip-systemctl-redirect "$version" "$name" stop -m immediate 2>/dev/null || true
	pg_dropcluster "$version" "$name"
fi

pg_createcluster "$version" "$name" -p "$port" >/dev/null
conf="/etc/postgresql/$version/$name"
data="$(awk -F"'" '/^data_directory/ { print $2 }' "$conf/postgresql.conf")"
cp "$hba" "$conf/pg_hba.conf"
# A hot standby needs these at least as high as on the primary.
for setting in $settings; do
	echo "$setting = $(primary "SHOW $setting")" >>"$conf/conf.d/tmf-replica.conf"
done
echo "listen_addresses = '127.0.0.1'" >>"$conf/conf.d/tmf-replica.conf"
rm -rf "${data:?}"/*
# -R writes primary_conninfo and standby.signal: the copy starts as a
# streaming hot standby.
as_postgres pg_basebackup -h 127.0.0.1 -p "$primary_port" -U postgres -D "$data" -R -X stream -c fast
pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start
for _ in $(seq 60); do streaming && { echo "pg-replica: $name on :$port streams from :$primary_port"; exit 0; }; sleep 1; done
echo "pg-replica: $name on :$port started but does not stream" >&2
exit 1
