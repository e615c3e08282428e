package cdc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgtype"
)

// pgoutput protocol version 1 messages, built by hand
// (https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

type msg struct{ bytes.Buffer }

func (m *msg) u8(v byte)      { m.WriteByte(v) }
func (m *msg) u16(v uint16)   { _ = binary.Write(m, binary.BigEndian, v) }
func (m *msg) u32(v uint32)   { _ = binary.Write(m, binary.BigEndian, v) }
func (m *msg) u64(v uint64)   { _ = binary.Write(m, binary.BigEndian, v) }
func (m *msg) str(s string)   { m.WriteString(s); m.WriteByte(0) }
func (m *msg) ts(t time.Time) { m.u64(uint64(t.Sub(pgEpoch).Microseconds())) }

func begin(final pglogrepl.LSN, at time.Time) []byte {
	var m msg
	m.u8('B')
	m.u64(uint64(final))
	m.ts(at)
	m.u32(7)
	return m.Bytes()
}

func commit(lsn, end pglogrepl.LSN, at time.Time) []byte {
	var m msg
	m.u8('C')
	m.u8(0)
	m.u64(uint64(lsn))
	m.u64(uint64(end))
	m.ts(at)
	return m.Bytes()
}

type col struct {
	name string
	oid  uint32
}

var orderCols = []col{{"id", pgtype.VarcharOID}, {"biz_code", pgtype.VarcharOID}, {"status", pgtype.VarcharOID},
	{"total", pgtype.Int8OID}, {"version", pgtype.Int8OID}, {"payment_deadline", pgtype.TimestamptzOID}, {"shipping", pgtype.TextOID}}

func relation(id uint32, name string, cols []col) []byte {
	var m msg
	m.u8('R')
	m.u32(id)
	m.str("tmf_t_x")
	m.str(name)
	m.u8('d')
	m.u16(uint16(len(cols)))
	for i, c := range cols {
		m.u8(map[bool]byte{true: 1}[i == 0])
		m.str(c.name)
		m.u32(c.oid)
		m.u32(0xffffffff)
	}
	return m.Bytes()
}

// tuple takes "\x00" for NULL and "\x01" for an unchanged TOASTed value.
func tuple(m *msg, vals []string) {
	m.u16(uint16(len(vals)))
	for _, v := range vals {
		switch v {
		case "\x00":
			m.u8('n')
		case "\x01":
			m.u8('u')
		default:
			m.u8('t')
			m.u32(uint32(len(v)))
			m.WriteString(v)
		}
	}
}

func rowMsg(kind byte, rel uint32, vals []string) []byte {
	var m msg
	m.u8(kind)
	m.u32(rel)
	if kind == 'D' {
		m.u8('K')
	} else {
		m.u8('N')
	}
	tuple(&m, vals)
	return m.Bytes()
}

func TestDecoderTurnsPgoutputIntoChanges(t *testing.T) {
	at := time.Date(2026, 12, 6, 8, 0, 0, 123000, time.UTC)
	d := NewDecoder()
	steps := []struct {
		name   string
		wal    []byte
		change *Change
		commit *Commit
	}{
		{"relation", relation(16400, OrdersTable, orderCols), nil, nil},
		{"begin", begin(0x1000, at), nil, nil},
		{"insert", rowMsg('I', 16400, []string{"o-1", "retail", "created", "1999", "1", "2026-12-06 08:30:00+00", `{"city":"Hangzhou"}`}),
			&Change{CommitLSN: 0x1000, Seq: 0, CommitTime: at, Table: OrdersTable, Op: Insert, Row: map[string]any{
				"id": "o-1", "biz_code": "retail", "status": "created", "total": int64(1999), "version": int64(1),
				"payment_deadline": time.Date(2026, 12, 6, 8, 30, 0, 0, time.UTC), "shipping": `{"city":"Hangzhou"}`}}, nil},
		{"update with an unchanged TOASTed value", rowMsg('U', 16400, []string{"o-1", "retail", "paid", "1999", "2", "\x00", "\x01"}),
			&Change{CommitLSN: 0x1000, Seq: 1, CommitTime: at, Table: OrdersTable, Op: Update, Row: map[string]any{
				"id": "o-1", "biz_code": "retail", "status": "paid", "total": int64(1999), "version": int64(2), "payment_deadline": nil}}, nil},
		{"delete sends the key", rowMsg('D', 16400, []string{"o-1", "\x00", "\x00", "\x00", "\x00", "\x00", "\x00"}),
			&Change{CommitLSN: 0x1000, Seq: 2, CommitTime: at, Table: OrdersTable, Op: Delete, Row: map[string]any{
				"id": "o-1", "biz_code": nil, "status": nil, "total": nil, "version": nil, "payment_deadline": nil, "shipping": nil}}, nil},
		{"commit", commit(0x1000, 0x1030, at), nil, &Commit{EndLSN: 0x1030, Time: at}},
	}
	for _, s := range steps {
		change, cmt, err := d.Decode(s.wal)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got, want := jsonOf(t, change), jsonOf(t, s.change); got != want {
			t.Errorf("%s: change\n got %s\nwant %s", s.name, got, want)
		}
		if got, want := jsonOf(t, cmt), jsonOf(t, s.commit); got != want {
			t.Errorf("%s: commit %s, want %s", s.name, got, want)
		}
	}
	if d.InTransaction() {
		t.Error("in a transaction after its commit")
	}
}

func TestDecoderRefusesBrokenStreams(t *testing.T) {
	at := time.Now()
	for _, tc := range []struct {
		name string
		wal  [][]byte
	}{
		{"change outside a transaction", [][]byte{relation(1, OrdersTable, orderCols), rowMsg('I', 1, []string{"o", "r", "s", "1", "1", "\x00", "x"})}},
		{"unknown relation", [][]byte{begin(1, at), rowMsg('I', 2, []string{"o"})}},
		{"commit without begin", [][]byte{commit(1, 2, at)}},
		{"more columns than the relation", [][]byte{relation(1, OrdersTable, orderCols[:1]), begin(1, at), rowMsg('I', 1, []string{"o", "r"})}},
		{"truncated message", [][]byte{{'B', 0, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder()
			var err error
			for _, w := range tc.wal {
				if _, _, err = d.Decode(w); err != nil {
					break
				}
			}
			if err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestEventOfAChange(t *testing.T) {
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	c := Change{CommitLSN: 0x16B3748, Seq: 3, CommitTime: at, Table: OrdersTable, Op: Update,
		Row: map[string]any{"id": "o-9", "biz_code": "virtual.topup", "version": int64(4), "status": "paid"}}
	ev, err := c.Event("")
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	if ev.Type != EventType || ev.Subject != "o-9" || ev.BizCode != "virtual.topup" || ev.Version != 4 ||
		!ev.Time.Equal(at) || ev.Time.Location() != time.UTC || ev.Source != "urn:tmf:platform" {
		t.Errorf("envelope %+v", ev)
	}
	var data map[string]any
	if err := json.Unmarshal(ev.Data, &data); err != nil || data["status"] != "paid" || data["version"] != float64(4) {
		t.Errorf("data %s (%v)", ev.Data, err)
	}
	// The id depends on the position and the key only: a replay yields it again.
	same := c
	same.Row = map[string]any{"id": "o-9", "version": int64(4)}
	if same.EventID() != ev.ID {
		t.Error("the id of the same change differs")
	}
	for name, other := range map[string]Change{
		"commit": {CommitLSN: 0x16B3749, Seq: 3, Table: OrdersTable, Row: c.Row},
		"seq":    {CommitLSN: 0x16B3748, Seq: 4, Table: OrdersTable, Row: c.Row},
		"table":  {CommitLSN: 0x16B3748, Seq: 3, Table: "tmf_other", Row: c.Row},
		"key":    {CommitLSN: 0x16B3748, Seq: 3, Table: OrdersTable, Row: map[string]any{"id": "o-10"}},
	} {
		if other.EventID() == ev.ID {
			t.Errorf("another %s, the same id", name)
		}
	}
	if _, err := (Change{Table: OrdersTable, Row: map[string]any{}}).Event(""); err == nil {
		t.Error("a change without an id became an event")
	}
}

func TestSubject(t *testing.T) {
	for _, tc := range []struct{ typ, biz, want string }{
		{EventType, "retail", "tmf.events.order.changed.retail"},
		{EventType, "virtual.topup", "tmf.events.order.changed.virtual.topup"},
		{EventType, "", "tmf.events.order.changed._"},
	} {
		if got := subject(tc.typ, tc.biz); got != tc.want {
			t.Errorf("subject(%q, %q) = %q, want %q", tc.typ, tc.biz, got, tc.want)
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A transaction's order changes take the trace context of their order's
// outbox event, wherever it comes in the transaction, else of any traced
// event; outbox updates and untraced events tell nothing; a flush starts
// the next transaction afresh.
func TestTxChangesTraceContext(t *testing.T) {
	order := func(id string) Change { return Change{Table: OrdersTable, Op: Update, Row: map[string]any{"id": id}} }
	outbox := func(op Op, agg, tp string) Change {
		return Change{Table: OutboxTable, Op: op, Row: map[string]any{"aggregate_id": agg, "traceparent": tp, "tracestate": "s-" + tp}}
	}
	tests := []struct {
		name    string
		changes []Change
		want    map[string]string // order id → traceparent
	}{
		{"the order's own event, after the change", []Change{order("o1"), outbox(Insert, "x", "tx"), outbox(Insert, "o1", "t1")},
			map[string]string{"o1": "t1"}},
		{"another aggregate's event", []Change{order("o1"), order("o2"), outbox(Insert, "o2", "t2"), outbox(Insert, "b", "tb")},
			map[string]string{"o1": "t2", "o2": "t2"}},
		{"updates and untraced inserts tell nothing", []Change{order("o1"), outbox(Update, "o1", "late"), outbox(Insert, "o1", "")},
			map[string]string{"o1": ""}},
		{"no outbox", []Change{order("o1")}, map[string]string{"o1": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tx txChanges
			for _, c := range tc.changes {
				tx.add(c)
			}
			got := tx.flush()
			if len(got) != len(tc.want) {
				t.Fatalf("%d changes, want %d", len(got), len(tc.want))
			}
			for _, c := range got {
				w := tc.want[c.OrderID()]
				if c.Traceparent != w || (w != "" && c.Tracestate != "s-"+w) {
					t.Errorf("%s: %q %q, want %q", c.OrderID(), c.Traceparent, c.Tracestate, w)
				}
				ev, err := c.Event("")
				if err != nil || ev.TraceParent != w {
					t.Errorf("%s: event traceparent %q, %v", c.OrderID(), ev.TraceParent, err)
				}
			}
			if rest := tx.flush(); len(rest) != 0 || tx.byOrder != nil || tx.any != [2]string{} {
				t.Errorf("after a flush: %+v", tx)
			}
		})
	}
}
