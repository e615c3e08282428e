package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	lc "github.com/tmf-platform/tmf/platform/lifecycle"
)

// payWith returns the default graph whose pay event runs the named effects.
func payWith(names ...string) *lc.Graph {
	g := lc.Default()
	for i := range g.Events {
		if g.Events[i].Name == lc.EventPay {
			g.Events[i].Effects = names
		}
	}
	return g
}

// recorder logs the calls of effects and commits, in order, and checks that
// each receives the transition under test.
type recorder struct {
	t       *testing.T
	wantKey string
	mu      sync.Mutex
	log     []string
}

func (r *recorder) add(entry string, tr lc.Transition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if tr.Key != r.wantKey || tr.From != lc.PendingPayment || tr.To != lc.PendingReview || tr.Event != lc.EventPay {
		r.t.Errorf("%s got transition %+v; want pay from pending_payment with key %q", entry, tr, r.wantKey)
	}
	r.log = append(r.log, entry)
}

func (r *recorder) entries() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

var (
	errDo     = errors.New("do failed")
	errUndo   = errors.New("undo failed")
	errCommit = errors.New("commit failed")
	errGuard  = errors.New("risk service unavailable")
)

type effectSpec struct {
	name                string
	failDo, panicDo     bool
	failUndo, panicUndo bool
	noUndo              bool
}

func (r *recorder) effect(s effectSpec) lc.Effect {
	e := lc.Effect{
		Name: s.name,
		Do: func(_ context.Context, tr lc.Transition) error {
			r.add("do "+s.name, tr)
			if s.panicDo {
				panic("boom in " + s.name)
			}
			if s.failDo {
				return errDo
			}
			return nil
		},
	}
	if !s.noUndo {
		e.Undo = func(_ context.Context, tr lc.Transition) error {
			r.add("undo "+s.name, tr)
			if s.panicUndo {
				panic(fmt.Errorf("undo %s exploded", s.name))
			}
			if s.failUndo {
				return errUndo
			}
			return nil
		}
	}
	return e
}

func (r *recorder) commit(mode string) func(context.Context, lc.Transition) error {
	return func(_ context.Context, tr lc.Transition) error {
		r.add("commit", tr)
		switch mode {
		case "fail":
			return errCommit
		case "panic":
			panic("commit panicked")
		}
		return nil
	}
}

func payRequest() lc.Request {
	return lc.Request{OrderID: "order-7", Version: 12, Event: lc.EventPay, Data: map[string]string{"payment": "p-1"}, Actor: "buyer-1"}
}

func TestEffects(t *testing.T) {
	t.Parallel()
	abcd := func(mod func(s []effectSpec)) []effectSpec {
		s := []effectSpec{{name: "a"}, {name: "b"}, {name: "c"}, {name: "d"}}
		if mod != nil {
			mod(s)
		}
		return s
	}
	tests := []struct {
		name      string
		effects   []effectSpec
		commit    string // "ok", "fail", "panic"
		wantLog   []string
		wantErr   string // "", "effect <name>", "commit"
		wantPanic bool   // the cause is a *PanicError
		wantComp  []string
	}{
		{
			name: "all succeed", effects: abcd(nil), commit: "ok",
			wantLog: []string{"do a", "do b", "do c", "do d", "commit"},
		},
		{
			name: "first effect fails", effects: abcd(func(s []effectSpec) { s[0].failDo = true }), commit: "ok",
			wantLog: []string{"do a"}, wantErr: "effect a",
		},
		{
			name: "middle effect fails", effects: abcd(func(s []effectSpec) { s[2].failDo = true }), commit: "ok",
			wantLog: []string{"do a", "do b", "do c", "undo b", "undo a"}, wantErr: "effect c",
		},
		{
			name: "last effect fails", effects: abcd(func(s []effectSpec) { s[3].failDo = true }), commit: "ok",
			wantLog: []string{"do a", "do b", "do c", "do d", "undo c", "undo b", "undo a"}, wantErr: "effect d",
		},
		{
			name: "commit fails", effects: abcd(nil), commit: "fail",
			wantLog: []string{"do a", "do b", "do c", "do d", "commit", "undo d", "undo c", "undo b", "undo a"}, wantErr: "commit",
		},
		{
			name: "effect panics", effects: abcd(func(s []effectSpec) { s[2].panicDo = true }), commit: "ok",
			wantLog: []string{"do a", "do b", "do c", "undo b", "undo a"}, wantErr: "effect c", wantPanic: true,
		},
		{
			name: "commit panics", effects: abcd(nil), commit: "panic",
			wantLog: []string{"do a", "do b", "do c", "do d", "commit", "undo d", "undo c", "undo b", "undo a"}, wantErr: "commit", wantPanic: true,
		},
		{
			name: "failing undo does not stop the others", effects: abcd(func(s []effectSpec) { s[3].failDo = true; s[1].failUndo = true }), commit: "ok",
			wantLog: []string{"do a", "do b", "do c", "do d", "undo c", "undo b", "undo a"}, wantErr: "effect d",
			wantComp: []string{`undo "b": undo failed`},
		},
		{
			name: "panicking undo does not stop the others", effects: abcd(func(s []effectSpec) { s[2].panicUndo = true; s[0].failUndo = true }), commit: "fail",
			wantLog: []string{"do a", "do b", "do c", "do d", "commit", "undo d", "undo c", "undo b", "undo a"}, wantErr: "commit",
			wantComp: []string{`undo "c": panic: undo c exploded`, `undo "a": undo failed`},
		},
		{
			name: "nil undo is skipped", effects: abcd(func(s []effectSpec) { s[1].noUndo = true; s[3].failDo = true }), commit: "ok",
			wantLog: []string{"do a", "do b", "do c", "do d", "undo c", "undo a"}, wantErr: "effect d",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{t: t, wantKey: "order-7/12/pay"}
			var effects []lc.Effect
			var names []string
			for _, s := range tt.effects {
				effects = append(effects, rec.effect(s))
				names = append(names, s.name)
			}
			c := mustCompile(t, payWith(names...), effects...)
			m := mustMachine(t, c, lc.PendingPayment)

			tr, err := m.Fire(context.Background(), payRequest(), nil, rec.commit(tt.commit))

			if got := rec.entries(); !reflect.DeepEqual(got, tt.wantLog) {
				t.Errorf("calls = %q; want %q", got, tt.wantLog)
			}
			if tr.Key != "order-7/12/pay" || tr.To != lc.PendingReview {
				t.Errorf("transition = %+v", tr)
			}
			var comp []error
			switch {
			case tt.wantErr == "":
				if err != nil {
					t.Fatalf("Fire = %v; want success", err)
				}
				if m.State() != lc.PendingReview {
					t.Errorf("state = %q; want pending_review", m.State())
				}
				return
			case tt.wantErr == "commit":
				var ce *lc.CommitError
				if !errors.As(err, &ce) {
					t.Fatalf("Fire = %v (%T); want *CommitError", err, err)
				}
				if !tt.wantPanic && !errors.Is(err, errCommit) {
					t.Errorf("CommitError does not wrap the commit's error: %v", err)
				}
				comp = ce.Compensation
			default:
				var ee *lc.EffectError
				if !errors.As(err, &ee) {
					t.Fatalf("Fire = %v (%T); want *EffectError", err, err)
				}
				if "effect "+ee.Effect != tt.wantErr {
					t.Errorf("EffectError.Effect = %q; want %s", ee.Effect, tt.wantErr)
				}
				if !tt.wantPanic && !errors.Is(err, errDo) {
					t.Errorf("EffectError does not wrap the effect's error: %v", err)
				}
				comp = ee.Compensation
			}
			var pe *lc.PanicError
			if got := errors.As(err, &pe); got != tt.wantPanic {
				t.Errorf("cause is a *PanicError: %v; want %v (%v)", got, tt.wantPanic, err)
			}
			if tt.wantPanic && len(pe.Stack) == 0 {
				t.Error("PanicError has no stack")
			}
			var compText []string
			for _, e := range comp {
				compText = append(compText, e.Error())
			}
			if !reflect.DeepEqual(compText, tt.wantComp) {
				t.Errorf("compensation errors = %q; want %q", compText, tt.wantComp)
			}
			for _, w := range tt.wantComp {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention compensation %q", err, w)
				}
			}
			if m.State() != lc.PendingPayment {
				t.Errorf("state = %q after a failed Fire; want it reverted to pending_payment", m.State())
			}
			// The machine is usable again after the revert.
			if _, err := m.Fire(context.Background(), lc.Request{Event: lc.EventCancel}, nil, nil); err != nil || m.State() != lc.Cancelled {
				t.Errorf("cancel after revert: %v, state %q", err, m.State())
			}
		})
	}
}

func TestGuard(t *testing.T) {
	t.Parallel()
	veto := &lc.VetoError{Guard: "credit_limit", Code: "credit.exceeded", Reason: "credit limit exceeded"}
	tests := []struct {
		name      string
		guard     lc.Guard
		wantVeto  bool
		wantIs    error
		wantPanic bool
	}{
		{name: "veto", guard: func(context.Context, lc.Transition) error { return veto }, wantVeto: true, wantIs: veto},
		{name: "wrapped veto", guard: func(context.Context, lc.Transition) error { return fmt.Errorf("order.guard: %w", veto) }, wantVeto: true, wantIs: veto},
		{name: "guard error", guard: func(context.Context, lc.Transition) error { return errGuard }, wantIs: errGuard},
		{name: "guard panic", guard: func(context.Context, lc.Transition) error { panic("guard bug") }, wantPanic: true},
		{name: "guard panic with an error", guard: func(context.Context, lc.Transition) error { panic(errGuard) }, wantPanic: true, wantIs: errGuard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{t: t, wantKey: "order-7/12/pay"}
			c := mustCompile(t, payWith("a"), rec.effect(effectSpec{name: "a"}))
			m := mustMachine(t, c, lc.PendingPayment)
			var seen lc.Transition
			guard := func(ctx context.Context, tr lc.Transition) error {
				seen = tr
				return tt.guard(ctx, tr)
			}

			_, err := m.Fire(context.Background(), payRequest(), guard, rec.commit("ok"))

			want := lc.Transition{OrderID: "order-7", Version: 12, Event: lc.EventPay, From: lc.PendingPayment, To: lc.PendingReview,
				Key: "order-7/12/pay", Data: map[string]string{"payment": "p-1"}, Actor: "buyer-1"}
			if !reflect.DeepEqual(seen, want) {
				t.Errorf("guard saw %+v; want %+v", seen, want)
			}
			var ve *lc.VetoError
			var ge *lc.GuardError
			switch {
			case tt.wantVeto:
				if !errors.As(err, &ve) || *ve != *veto {
					t.Fatalf("Fire = %v (%T); want the veto", err, err)
				}
				if errors.As(err, &ge) {
					t.Errorf("a veto is reported as a *GuardError: %v", err)
				}
			default:
				if !errors.As(err, &ge) {
					t.Fatalf("Fire = %v (%T); want *GuardError", err, err)
				}
				if errors.As(err, &ve) {
					t.Errorf("a guard failure is reported as a veto: %v", err)
				}
				var pe *lc.PanicError
				if errors.As(err, &pe) != tt.wantPanic {
					t.Errorf("cause is a *PanicError: %v; want %v", !tt.wantPanic, tt.wantPanic)
				}
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			if m.State() != lc.PendingPayment {
				t.Errorf("state = %q; want it unchanged", m.State())
			}
			if got := rec.entries(); len(got) != 0 {
				t.Errorf("effects or commit ran after the guard refused: %q", got)
			}
			// A later Fire with a passing guard goes through.
			if _, err := m.Fire(context.Background(), payRequest(), func(context.Context, lc.Transition) error { return nil }, rec.commit("ok")); err != nil {
				t.Fatalf("Fire after the refusal = %v", err)
			}
			if got := rec.entries(); !reflect.DeepEqual(got, []string{"do a", "commit"}) || m.State() != lc.PendingReview {
				t.Errorf("after a passing guard: calls %q, state %q", got, m.State())
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{&lc.VetoError{Guard: "credit_limit", Code: "credit.exceeded", Reason: "over the limit"}, `lifecycle: vetoed by guard "credit_limit" [credit.exceeded]: over the limit`},
		{&lc.VetoError{}, "lifecycle: vetoed"},
		{&lc.GuardError{Cause: errGuard}, "lifecycle: guard failed: risk service unavailable"},
		{&lc.EffectError{Effect: "capture", Cause: errDo}, `lifecycle: effect "capture" failed: do failed`},
		{&lc.EffectError{Effect: "capture", Cause: errDo, Compensation: []error{errUndo}}, `lifecycle: effect "capture" failed: do failed (1 compensation(s) failed: undo failed)`},
		{&lc.CommitError{Cause: errCommit}, "lifecycle: commit failed: commit failed"},
		{&lc.UnknownStateError{State: "lost", Graph: "distribution"}, `lifecycle: graph "distribution" has no state "lost"`},
		{&lc.GraphError{Graph: "g", Problems: []string{"a", "b"}}, `lifecycle: graph "g" is invalid: a; b`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%T.Error() = %q; want %q", tt.err, got, tt.want)
		}
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	c := mustCompile(t, lc.Default())
	fire := func(state string, version int64, event string) string {
		tr, err := mustMachine(t, c, state).Fire(context.Background(), lc.Request{OrderID: "order-7", Version: version, Event: event}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tr.Key
	}
	first := fire(lc.PendingPayment, 12, lc.EventPay)
	if first != "order-7/12/pay" || first != lc.TransitionKey("order-7", 12, lc.EventPay) {
		t.Errorf("key = %q; want order-7/12/pay", first)
	}
	if again := fire(lc.PendingPayment, 12, lc.EventPay); again != first {
		t.Errorf("retry key %q != first key %q", again, first)
	}
	if other := fire(lc.PendingPayment, 13, lc.EventPay); other == first {
		t.Errorf("a different version gave the same key %q", other)
	}
	if other := fire(lc.PendingPayment, 12, lc.EventCancel); other == first {
		t.Errorf("a different event gave the same key %q", other)
	}
}

// TestIdempotentRetry: an effect that dedupes by Key does its work once when
// a request whose commit failed is retried from the same stored version.
func TestIdempotentRetry(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		done    = map[string]bool{}
		work    int
		keys    []string
		commits int
	)
	notify := lc.Effect{Name: "notify", Do: func(_ context.Context, tr lc.Transition) error {
		mu.Lock()
		defer mu.Unlock()
		keys = append(keys, tr.Key)
		if done[tr.Key] {
			return nil // already sent: consumers must not see it twice
		}
		done[tr.Key] = true
		work++
		return nil
	}}
	c := mustCompile(t, payWith("notify"), notify)
	stored := struct {
		state   string
		version int64
	}{lc.PendingPayment, 12}
	commit := func(_ context.Context, tr lc.Transition) error {
		commits++
		if commits == 1 {
			return errCommit // e.g. the database was unreachable
		}
		if tr.Version != stored.version {
			return errors.New("version conflict")
		}
		stored.state, stored.version = tr.To, tr.Version+1
		return nil
	}

	for attempt := 1; attempt <= 2; attempt++ {
		m := mustMachine(t, c, stored.state)
		_, err := m.Fire(context.Background(), lc.Request{OrderID: "order-7", Version: stored.version, Event: lc.EventPay}, nil, commit)
		if attempt == 1 {
			var ce *lc.CommitError
			if !errors.As(err, &ce) {
				t.Fatalf("attempt 1: Fire = %v; want *CommitError", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("attempt 2: Fire = %v", err)
		}
	}
	if work != 1 {
		t.Errorf("work done %d times; want once", work)
	}
	if !reflect.DeepEqual(keys, []string{"order-7/12/pay", "order-7/12/pay"}) {
		t.Errorf("keys = %q; want the same key twice", keys)
	}
	if stored.state != lc.PendingReview || stored.version != 13 || commits != 2 {
		t.Errorf("stored %+v after %d commits; want pending_review at version 13 after 2", stored, commits)
	}
}

func TestCompensationIgnoresCancellation(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var undoCtxErr error = errors.New("undo not called")
	a := lc.Effect{Name: "a",
		Do:   func(context.Context, lc.Transition) error { return nil },
		Undo: func(ctx context.Context, _ lc.Transition) error { undoCtxErr = ctx.Err(); return nil },
	}
	b := lc.Effect{Name: "b", Do: func(ctx context.Context, _ lc.Transition) error {
		cancel() // the request times out during the effect
		return ctx.Err()
	}}
	c := mustCompile(t, payWith("a", "b"), a, b)
	m := mustMachine(t, c, lc.PendingPayment)
	_, err := m.Fire(ctx, payRequest(), nil, nil)
	var ee *lc.EffectError
	if !errors.As(err, &ee) || ee.Effect != "b" || !errors.Is(err, context.Canceled) {
		t.Fatalf("Fire = %v; want *EffectError for b wrapping context.Canceled", err)
	}
	if undoCtxErr != nil {
		t.Errorf("undo ran with a done context (%v); compensation must not be cancelled with the request", undoCtxErr)
	}
	if m.State() != lc.PendingPayment {
		t.Errorf("state = %q; want pending_payment", m.State())
	}
}

func TestContextDone(t *testing.T) {
	t.Parallel()
	c := mustCompile(t, lc.Default())

	t.Run("before fire", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		m := mustMachine(t, c, lc.PendingPayment)
		guarded := false
		_, err := m.Fire(ctx, payRequest(), func(context.Context, lc.Transition) error { guarded = true; return nil }, nil)
		if !errors.Is(err, context.Canceled) || guarded || m.State() != lc.PendingPayment {
			t.Errorf("Fire = %v, guard ran %v, state %q; want context.Canceled, no guard, unchanged", err, guarded, m.State())
		}
	})

	// A context cancelled while the guard runs leaves looplab/fsm "in
	// transition"; the machine must recover and stay usable.
	t.Run("during the guard", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		m := mustMachine(t, c, lc.PendingPayment)
		committed := false
		_, err := m.Fire(ctx, payRequest(),
			func(context.Context, lc.Transition) error { cancel(); return nil },
			func(context.Context, lc.Transition) error { committed = true; return nil })
		if !errors.Is(err, context.Canceled) || committed || m.State() != lc.PendingPayment {
			t.Fatalf("Fire = %v, committed %v, state %q; want context.Canceled, no commit, unchanged", err, committed, m.State())
		}
		if _, err := m.Fire(context.Background(), payRequest(), nil, nil); err != nil || m.State() != lc.PendingReview {
			t.Errorf("next Fire = %v, state %q; want the machine usable again", err, m.State())
		}
	})
}

func TestSelfLoop(t *testing.T) {
	t.Parallel()
	g, err := lc.Default().Apply(lc.Patch{AddEvents: []lc.Event{
		{Name: "remind", From: []string{lc.PendingPayment}, To: lc.PendingPayment, Effects: []string{"send_reminder"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	c := mustCompile(t, g, lc.Effect{Name: "send_reminder", Do: func(context.Context, lc.Transition) error { sent++; return nil }})

	m := mustMachine(t, c, lc.PendingPayment)
	if _, err := m.Fire(context.Background(), lc.Request{Event: "remind"}, func(context.Context, lc.Transition) error { return nil }, nil); err != nil {
		t.Fatalf("remind = %v", err)
	}
	if sent != 1 || m.State() != lc.PendingPayment {
		t.Errorf("sent %d, state %q; want 1, pending_payment", sent, m.State())
	}
	_, err = m.Fire(context.Background(), lc.Request{Event: "remind"}, func(context.Context, lc.Transition) error { return &lc.VetoError{Code: "quiet_hours"} }, nil)
	var ve *lc.VetoError
	if !errors.As(err, &ve) || ve.Code != "quiet_hours" || sent != 1 {
		t.Errorf("vetoed remind = %v, sent %d; want the veto and no effect", err, sent)
	}
}

func TestCompile(t *testing.T) {
	t.Parallel()
	noop := func(context.Context, lc.Transition) error { return nil }
	known := func(name string) (lc.Effect, bool) {
		switch name {
		case "capture":
			return lc.Effect{Name: "whatever", Do: noop}, true
		case "no_do":
			return lc.Effect{Name: "no_do"}, true
		}
		return lc.Effect{}, false
	}
	tests := []struct {
		name     string
		graph    func() *lc.Graph
		resolver func(string) (lc.Effect, bool)
		want     []string
	}{
		{"unknown effect", func() *lc.Graph { return payWith("capture", "nope") }, known,
			[]string{`event "pay": effect "nope" is unknown`}},
		{"no resolver", func() *lc.Graph { return payWith("capture") }, nil,
			[]string{`event "pay": effect "capture" is unknown`}},
		{"effect without Do", func() *lc.Graph { return payWith("no_do") }, known,
			[]string{`event "pay": effect "no_do" has no Do function`}},
		{"graph and effect problems together", func() *lc.Graph {
			g := payWith("nope")
			g.States = append(g.States, lc.State{Name: "orphan", Terminal: true})
			return g
		}, known, []string{`event "pay": effect "nope" is unknown`, `state "orphan" is not reachable from initial state "created"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := lc.Compile(tt.graph(), tt.resolver)
			if c != nil {
				t.Error("Compile returned a result with an error")
			}
			assertProblems(t, err, "distribution", tt.want)
		})
	}
	if _, err := lc.Compile(nil, nil); err == nil {
		t.Error("Compile(nil) succeeded")
	}

	t.Run("effect takes the graph's name", func(t *testing.T) {
		t.Parallel()
		c, err := lc.Compile(payWith("capture"), func(string) (lc.Effect, bool) {
			return lc.Effect{Name: "whatever", Do: func(context.Context, lc.Transition) error { return errDo }}, true
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = mustMachine(t, c, lc.PendingPayment).Fire(context.Background(), payRequest(), nil, nil)
		var ee *lc.EffectError
		if !errors.As(err, &ee) || ee.Effect != "capture" {
			t.Errorf("Fire = %v; want an *EffectError naming capture", err)
		}
	})
}

func TestCompiledIsImmutable(t *testing.T) {
	t.Parallel()
	g := lc.Default()
	c := mustCompile(t, g)
	g.Events[eventIndex(g, lc.EventPay)].To = lc.Rejected
	g.Name = "changed"
	c.Graph().Events[0].From[0] = "changed"
	c.Allowed(lc.PendingPayment)[0] = "changed"
	mustMachine(t, c, lc.PendingPayment).AvailableEvents()[0] = "changed"

	if !reflect.DeepEqual(c.Graph(), lc.Default()) {
		t.Errorf("Compiled.Graph() changed: %+v", c.Graph())
	}
	if got := c.Allowed(lc.PendingPayment); !reflect.DeepEqual(got, []string{"cancel", "pay", "payment_fail", "payment_timeout"}) {
		t.Errorf("Allowed changed: %v", got)
	}
	tr, err := mustMachine(t, c, lc.PendingPayment).Fire(context.Background(), payRequest(), nil, nil)
	if err != nil || tr.To != lc.PendingReview {
		t.Errorf("pay = %v to %q; the compiled graph followed a change to its source", err, tr.To)
	}
}

func TestUnknownState(t *testing.T) {
	t.Parallel()
	c := mustCompile(t, lc.Default())
	for _, state := range []string{"shipped", ""} {
		m, err := c.Machine(state)
		var ue *lc.UnknownStateError
		if m != nil || !errors.As(err, &ue) || ue.State != state || ue.Graph != "distribution" {
			t.Errorf("Machine(%q) = %v, %v; want *UnknownStateError", state, m, err)
		}
		if c.Allowed(state) != nil || c.IsTerminal(state) {
			t.Errorf("Allowed/IsTerminal(%q) = %v/%v; want nil/false", state, c.Allowed(state), c.IsTerminal(state))
		}
	}
}

// TestConcurrentFire shares one Compiled between goroutines, each with its
// own machine; run with -race.
func TestConcurrentFire(t *testing.T) {
	t.Parallel()
	var dos, undos, commits atomic.Int64
	c := mustCompile(t, payWith("reserve"), lc.Effect{
		Name: "reserve",
		Do:   func(context.Context, lc.Transition) error { dos.Add(1); return nil },
		Undo: func(context.Context, lc.Transition) error { undos.Add(1); return nil },
	})
	const n = 50
	states := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			order := fmt.Sprintf("order-%d", i)
			m, err := c.Machine(c.Initial())
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := m.Fire(context.Background(), lc.Request{OrderID: order, Version: 0, Event: lc.EventPlace}, nil, nil); err != nil {
				t.Error(err)
				return
			}
			// Rebuilt from the stored state, as the next request would.
			m, err = c.Machine(m.State())
			if err != nil {
				t.Error(err)
				return
			}
			_ = c.Allowed(m.State())
			_ = c.Graph()
			commit := func(context.Context, lc.Transition) error {
				commits.Add(1)
				if i%2 == 1 {
					return errCommit
				}
				return nil
			}
			_, err = m.Fire(context.Background(), lc.Request{OrderID: order, Version: 1, Event: lc.EventPay}, nil, commit)
			if (err != nil) != (i%2 == 1) {
				t.Errorf("%s: Fire = %v", order, err)
			}
			states[i] = m.State()
		})
	}
	wg.Wait()
	for i, s := range states {
		want := lc.PendingReview
		if i%2 == 1 {
			want = lc.PendingPayment
		}
		if s != want {
			t.Errorf("order-%d: state %q; want %q", i, s, want)
		}
	}
	if dos.Load() != n || undos.Load() != n/2 || commits.Load() != n {
		t.Errorf("dos %d, undos %d, commits %d; want %d, %d, %d", dos.Load(), undos.Load(), commits.Load(), n, n/2, n)
	}
}
