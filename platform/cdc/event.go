package cdc

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tmf-platform/tmf/platform/events"
)

// EventType is the CloudEvents type of a change of an order's row read from
// the database log. It is declared here, once, for the event catalogue.
const EventType = events.OrderChanged

// OrdersTable is the table whose changes the feed carries.
const OrdersTable = "tmf_orders"

// OutboxTable is the outbox (store.OutboxEvent): the feed reads its inserts
// only for the W3C trace context (traceparent, tracestate) that the
// transaction changing an order wrote on its events, and publishes none of
// them (the outbox relay does).
const OutboxTable = "tmf_outbox_events"

// Op is the kind of a row change.
type Op string

// The row changes pgoutput reports.
const (
	Insert Op = "insert"
	Update Op = "update"
	Delete Op = "delete"
)

// Change is one row change of a committed transaction.
type Change struct {
	// CommitLSN is the LSN of the transaction's commit record, Seq the
	// change's 0-based position among the transaction's changes: together
	// they name the change however often the slot replays it.
	CommitLSN  pglogrepl.LSN
	Seq        int
	CommitTime time.Time
	Table      string
	Op         Op
	// Row holds the row's columns after the change (the key columns only
	// for a delete). A large value that an update left unchanged (an
	// out-of-line TOASTed text) is not sent by PostgreSQL and is absent.
	Row map[string]any
	// Traceparent and Tracestate are the W3C trace context of the request
	// whose transaction made the change (CloudEvents' distributed-tracing
	// extension), "" when it was not traced (see txChanges).
	Traceparent, Tracestate string
}

// Commit ends a transaction: EndLSN is the position to confirm once every
// change of the transaction (and of those before it) is stored downstream.
type Commit struct {
	EndLSN pglogrepl.LSN
	Time   time.Time
}

// Decoder turns pgoutput (protocol version 1) messages into changes. It
// keeps the relation descriptions the stream sends before a table's first
// change. Not safe for concurrent use.
type Decoder struct {
	relations map[uint32]*pglogrepl.RelationMessage
	types     *pgtype.Map
	inTx      bool
	commitLSN pglogrepl.LSN
	commitAt  time.Time
	seq       int
}

// NewDecoder returns a decoder for a new replication session.
func NewDecoder() *Decoder {
	return &Decoder{relations: map[uint32]*pglogrepl.RelationMessage{}, types: pgtype.NewMap()}
}

// InTransaction reports whether the decoder is between a transaction's
// begin and its commit.
func (d *Decoder) InTransaction() bool { return d.inTx }

// Decode reads one pgoutput message. It returns a change for a row change,
// a commit at a transaction's end, and neither for everything else
// (relations, types, origins, logical messages).
func (d *Decoder) Decode(wal []byte) (*Change, *Commit, error) {
	msg, err := pglogrepl.Parse(wal)
	if err != nil {
		return nil, nil, fmt.Errorf("cdc: parse pgoutput message: %w", err)
	}
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		d.relations[m.RelationID] = m
	case *pglogrepl.BeginMessage:
		d.inTx, d.commitLSN, d.commitAt, d.seq = true, m.FinalLSN, m.CommitTime, 0
	case *pglogrepl.CommitMessage:
		if !d.inTx {
			return nil, nil, fmt.Errorf("cdc: commit at %s outside a transaction", m.CommitLSN)
		}
		d.inTx = false
		return nil, &Commit{EndLSN: m.TransactionEndLSN, Time: m.CommitTime}, nil
	case *pglogrepl.InsertMessage:
		c, err := d.change(m.RelationID, Insert, m.Tuple)
		return c, nil, err
	case *pglogrepl.UpdateMessage:
		c, err := d.change(m.RelationID, Update, m.NewTuple)
		return c, nil, err
	case *pglogrepl.DeleteMessage:
		c, err := d.change(m.RelationID, Delete, m.OldTuple)
		return c, nil, err
	case *pglogrepl.TruncateMessage:
		// No row to report: a truncate of the order tables is an
		// operator's act, not an order's change.
	}
	return nil, nil, nil
}

func (d *Decoder) change(relID uint32, op Op, tuple *pglogrepl.TupleData) (*Change, error) {
	if !d.inTx {
		return nil, fmt.Errorf("cdc: %s outside a transaction", op)
	}
	rel, ok := d.relations[relID]
	if !ok {
		return nil, fmt.Errorf("cdc: %s of unknown relation %d", op, relID)
	}
	c := &Change{CommitLSN: d.commitLSN, Seq: d.seq, CommitTime: d.commitAt, Table: rel.RelationName, Op: op, Row: map[string]any{}}
	d.seq++
	if tuple == nil {
		return c, nil
	}
	if len(tuple.Columns) > len(rel.Columns) {
		return nil, fmt.Errorf("cdc: %s of %s: %d columns, relation has %d", op, rel.RelationName, len(tuple.Columns), len(rel.Columns))
	}
	for i, col := range tuple.Columns {
		name := rel.Columns[i].Name
		switch col.DataType {
		case 'n':
			c.Row[name] = nil
		case 'u': // unchanged TOASTed value: not sent
		case 't':
			v, err := d.decodeText(col.Data, rel.Columns[i].DataType)
			if err != nil {
				return nil, fmt.Errorf("cdc: %s of %s: column %s: %w", op, rel.RelationName, name, err)
			}
			c.Row[name] = v
		default:
			return nil, fmt.Errorf("cdc: %s of %s: column %s in format %q", op, rel.RelationName, name, col.DataType)
		}
	}
	return c, nil
}

func (d *Decoder) decodeText(data []byte, oid uint32) (any, error) {
	if t, ok := d.types.TypeForOID(oid); ok {
		v, err := t.Codec.DecodeValue(d.types, oid, pgtype.TextFormatCode, data)
		if tm, ok := v.(time.Time); ok {
			v = tm.UTC()
		}
		return v, err
	}
	return string(data), nil
}

// OrderID is the order a change belongs to: the id column of tmf_orders.
func (c Change) OrderID() string {
	s, _ := c.Row["id"].(string)
	return s
}

// EventID is the change's event id: a hash of the commit LSN, the change's
// position in its transaction, the table and the key. A replay of the slot
// after a restart or a switch-over yields the same id, so JetStream drops the
// copy within its duplicate window and a consumer can drop it after.
func (c Change) EventID() string {
	h := sha256.New()
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(c.CommitLSN))
	binary.BigEndian.PutUint64(b[8:], uint64(c.Seq))
	h.Write(b[:])
	h.Write([]byte(c.Table))
	h.Write([]byte{0})
	h.Write([]byte(c.OrderID()))
	return "cdc-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Event wraps a change of tmf_orders in its CloudEvents envelope: type
// EventType, subject the order id, time the commit's, tmfbizcode the row's
// biz_code, tmfversion the row's version, data the row's columns as JSON.
// source "" takes events.DefaultSource.
func (c Change) Event(source string) (events.CloudEvent, error) {
	if c.OrderID() == "" {
		return events.CloudEvent{}, fmt.Errorf("cdc: %s of %s without an id column", c.Op, c.Table)
	}
	data, err := json.Marshal(c.Row)
	if err != nil {
		return events.CloudEvent{}, fmt.Errorf("cdc: encode %s of order %s: %w", c.Op, c.OrderID(), err)
	}
	biz, _ := c.Row["biz_code"].(string)
	version, _ := c.Row["version"].(int64)
	return events.CloudEvent{SpecVersion: events.SpecVersion, ID: c.EventID(), Source: cmp.Or(source, events.DefaultSource),
		Type: EventType, Subject: c.OrderID(), Time: c.CommitTime.UTC(), DataContentType: "application/json",
		BizCode: biz, Version: version, TraceParent: c.Traceparent, TraceState: c.Tracestate, Data: data}, nil
}

// txChanges gathers one transaction's changes of the order table until its
// commit, with the trace context its outbox inserts carry: the store
// stamps every event a traced transaction writes with the request's
// traceparent (store.OutboxEvent), so an order's change gets the one of an
// event of that order, or else of any event of the transaction (one
// transaction serves one request). An order change whose transaction wrote
// no traced event goes out without one, as its outbox events would.
type txChanges struct {
	orders  []Change
	byOrder map[string][2]string
	any     [2]string
}

// add takes one change of the transaction.
func (t *txChanges) add(c Change) {
	switch c.Table {
	case OrdersTable:
		t.orders = append(t.orders, c)
	case OutboxTable:
		tp, _ := c.Row["traceparent"].(string)
		if c.Op != Insert || tp == "" {
			return
		}
		ts, _ := c.Row["tracestate"].(string)
		if t.any[0] == "" {
			t.any = [2]string{tp, ts}
		}
		if agg, _ := c.Row["aggregate_id"].(string); agg != "" {
			if t.byOrder == nil {
				t.byOrder = map[string][2]string{}
			}
			if _, ok := t.byOrder[agg]; !ok {
				t.byOrder[agg] = [2]string{tp, ts}
			}
		}
	}
}

// flush returns the transaction's order changes, in their order, with
// their trace context, and starts the next transaction.
func (t *txChanges) flush() []Change {
	out := t.orders
	for i := range out {
		tc, ok := t.byOrder[out[i].OrderID()]
		if !ok {
			tc = t.any
		}
		out[i].Traceparent, out[i].Tracestate = tc[0], tc[1]
	}
	*t = txChanges{}
	return out
}

// subject is the JetStream subject of an event: tmf.events.<type>.<bizCode>,
// "_" for an empty bizCode.
func subject(eventType, bizCode string) string {
	return events.Subject(events.CloudEvent{Type: eventType, BizCode: bizCode})
}
