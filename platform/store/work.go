package store

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// Work topics: the background loops a committed row wakes. A loop takes
// WorkSignal(topic) before it looks for work and, when it found none,
// waits for the signal or for IdlePoll, whichever comes first.
const (
	WorkOutbox     = "outbox"     // a tmf_outbox_events row: the outbox relay
	WorkWebhooks   = "webhooks"   // a tmf_webhook_deliveries row: the webhook workers
	WorkFulfilment = "fulfilment" // a tmf_fulfilments row: the fulfilment sweep
)

// workTables maps the tables whose inserts create work to their topic.
var workTables = map[string]string{
	"tmf_outbox_events":      WorkOutbox,
	"tmf_webhook_deliveries": WorkWebhooks,
	"tmf_fulfilments":        WorkFulfilment,
}

// workPending is, for the work tables written in every order's
// transaction, what "work waiting" means: their trigger notifies only
// when no other such row is committed. A transaction that notifies holds
// a database-wide lock through its commit (PostgreSQL serializes the
// commits of notifying transactions, group commit is lost: 16 writers of
// two-row transactions went from ~790 to ~275 a second on the shared
// test machine), and a loop that has work waiting is not asleep: it
// looks again after its busy interval. The first row after the loop
// found nothing sees no other committed row and notifies.
var workPending = map[string]string{
	"tmf_outbox_events": "delivered_at IS NULL",
}

// WorkChannel is the PostgreSQL notification channel of work topics; the
// payload is the topic. A statement-level trigger on each work table sends
// it in the writer's transaction, so PostgreSQL delivers it when (and only
// if) the rows commit, with no round trip of the writer's own.
// Notifications are database-wide: the stores on other schemas of the
// same database wake too, for one pass that finds nothing.
const WorkChannel = "tmf_work"

// SafetyPoll is how long a loop waits for work on PostgreSQL while it
// receives notifications (WithSafetyPoll changes it): a lost notification (a listener reconnecting)
// delays work by at most this, it never loses it.
const SafetyPoll = 30 * time.Second

// LocalIdlePoll is how long a loop waits for work where other processes'
// commits cannot be heard (SQLite, MySQL/MariaDB, or PostgreSQL while the
// listening connection is down): commits of this process wake it at once,
// other processes' work waits at most this.
const LocalIdlePoll = 5 * time.Second

// DuePoll bounds the idle wait of a loop whose work also comes due by the
// clock (payment deadlines, retry schedules, leases running out), which
// no commit announces: such work is taken at most this late.
const DuePoll = 5 * time.Second

// IdlePoll is how long a loop that found no work may wait before it looks
// again (it is woken earlier by WorkSignal): SafetyPoll while this process
// hears every process's commits (PostgreSQL, listening), LocalIdlePoll
// otherwise.
func (s *Store) IdlePoll() time.Duration {
	if s.dialect == Postgres && s.changes.Following() {
		return s.safetyPoll
	}
	return LocalIdlePoll
}

// WorkSignal returns a channel that is closed at the next commit of work
// of topic: by any process on PostgreSQL (LISTEN tmf_work), by this
// process on every database. Take it before looking for work, so that
// work committed while looking is not missed.
func (s *Store) WorkSignal(topic string) <-chan struct{} { return s.work.signal(topic) }

// wakeups hands out one channel per topic, closed by the next wake.
type wakeups struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

func (w *wakeups) signal(topic string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = map[string]chan struct{}{}
	}
	c := w.ch[topic]
	if c == nil {
		c = make(chan struct{})
		w.ch[topic] = c
	}
	return c
}

func (w *wakeups) wake(topic string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c := w.ch[topic]; c != nil {
		close(c)
		delete(w.ch, topic)
	}
}

// wakeAll wakes every topic: notifications may have been lost.
func (w *wakeups) wakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for t, c := range w.ch {
		close(c)
		delete(w.ch, t)
	}
}

// workOf is the topic of the work a statement creates ("" for none): an
// INSERT into a work table.
func workOf(query string) string {
	const insert = "INSERT INTO "
	if len(query) < len(insert)+4 || !strings.EqualFold(query[:len(insert)], insert) {
		return ""
	}
	rest := strings.TrimLeft(query[len(insert):], "\"`")
	end := strings.IndexAny(rest, "\"` (")
	if end < 0 {
		return ""
	}
	return workTables[rest[:end]]
}

// ensureWorkTriggers creates, on PostgreSQL, the statement-level trigger
// of every work table that exists: after an INSERT it notifies WorkChannel
// with the table's topic (in the inserting transaction; PostgreSQL folds
// the notifications of one transaction into one), unless other work of
// the table is waiting (workPending).
func ensureWorkTriggers(tx *gorm.DB) error {
	if tx.Dialector.Name() != Postgres {
		return nil
	}
	// Only what is missing: a migration that finds everything in place
	// runs no DDL (and takes no lock on the tables).
	var have struct{ Fn bool }
	if err := tx.Raw("SELECT to_regprocedure('tmf_notify_work()') IS NOT NULL AS fn").Scan(&have).Error; err != nil {
		return fmt.Errorf("look for tmf_notify_work: %w", err)
	}
	if !have.Fn {
		// TG_ARGV[0] is the topic; TG_ARGV[1], when given, the condition
		// of the table's waiting work (workPending).
		if err := tx.Exec(`CREATE OR REPLACE FUNCTION tmf_notify_work() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	mine bigint;
	waiting bigint;
BEGIN
	IF TG_NARGS > 1 THEN
		SELECT count(*) INTO mine FROM tmf_new_rows;
		EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %I WHERE %s LIMIT $1) w', TG_TABLE_NAME, TG_ARGV[1])
			INTO waiting USING mine + 1;
		IF waiting > mine THEN
			RETURN NULL; -- other work is waiting: its loop is awake
		END IF;
	END IF;
	PERFORM pg_notify('` + WorkChannel + `', TG_ARGV[0]);
	RETURN NULL;
END $$`).Error; err != nil {
			return fmt.Errorf("create tmf_notify_work: %w", err)
		}
	}
	var triggers []string
	if err := tx.Raw("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN (SELECT to_regclass(t) FROM unnest(?::text[]) AS t)",
		"{"+strings.Join(slices.Collect(maps.Keys(workTables)), ",")+"}").Scan(&triggers).Error; err != nil {
		return fmt.Errorf("look for the work triggers: %w", err)
	}
	for table, topic := range workTables {
		name := table + "_work"
		if slices.Contains(triggers, name) || !tx.Migrator().HasTable(table) {
			continue
		}
		args := "'" + topic + "'"
		if p := workPending[table]; p != "" {
			args += ", '" + strings.ReplaceAll(p, "'", "''") + "'"
		}
		if err := tx.Exec(fmt.Sprintf(`CREATE OR REPLACE TRIGGER %s AFTER INSERT ON %s
REFERENCING NEW TABLE AS tmf_new_rows FOR EACH STATEMENT EXECUTE FUNCTION tmf_notify_work(%s)`, name, table, args)).Error; err != nil {
			return fmt.Errorf("create the work trigger of %s: %w", table, err)
		}
	}
	return nil
}
