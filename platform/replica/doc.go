// Package replica sends the order reads that tolerate lag (a buyer's own
// list, an order read by id) to PostgreSQL streaming replicas (hot
// standbys) of the order database, without letting a reader miss its own
// writes.
//
// # Which replica, and when none
//
// A Set polls the primary's WAL flush position and every replica's replay
// position (pg_last_wal_replay_lsn) each Options.Poll. A replica's lag is
// how long ago the primary last stood at a position the replica has not
// replayed (an upper bound, exact to the poll interval, and zero for a
// replica level with the primary however long ago the last write was).
// A replica is used only when it answered its last poll, is in recovery
// and lags by at most Options.MaxLag; otherwise the primary answers. A
// read that fails on a replica is made again on the primary, so a replica
// that goes down between two polls costs one failed attempt, never an
// error to the client.
//
// # Read your writes, across any number of nodes
//
// After a principal's write commits, MarkWrite stores the primary's WAL
// insert position (pg_current_wal_insert_lsn, which is past the write's
// commit record) as that principal's marker in tmf_read_marks on the
// primary, and returns it as an opaque consistency token for the client
// (the API's X-TMF-Consistency header). A read (Read) needs the larger of
// the token the client sent back and the principal's marker, one primary
// index lookup, and goes to a replica only if the replica has replayed at
// least that far (its last polled position, else a fresh one); else to
// the primary. Because the marker is in the shared database, a read on
// any node sees a write made through any other, with or without the
// token; the token extends the guarantee to a client's session across
// principals (or to a principal whose marker could not be read).
//
// Guarantee: a read answered by a replica reflects every write of the
// reader that was acknowledged before the read began (and every write
// whose token the client sent); other principals' writes may be missing
// for up to MaxLag plus one poll interval.
//
// Only PostgreSQL is supported: Open refuses other databases.
package replica
