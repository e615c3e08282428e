// Package cdc is the change-data-capture feed of the order table (JD's
// Hamal): it reads tmf_orders' committed changes from a PostgreSQL logical
// replication slot (pgoutput), turns each row change into an order.changed
// CloudEvent and publishes it to NATS JetStream, and confirms the slot's
// position only after JetStream acknowledged every change up to it (a
// sliding window of asynchronous publishes).
//
// Listeners form a hot standby group on one slot (see Listener); Setup and
// Drop create and remove the slot and its publication. PostgreSQL only:
// MariaDB and SQLite keep the outbox relay.
package cdc
