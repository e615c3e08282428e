// Package configs keeps the kernel's configuration (business identities,
// their products, bizpacks, payment timeouts and resolution rules) in the
// store as numbered revisions, so that operators change it through the
// admin API instead of a file on a server.
//
// The latest stored revision is the one in force. A server boots on it (or,
// on an empty store, seeds revision 1 from its configuration file), applies
// every change it makes only after the change compiled and was saved with
// its audit entries in one transaction, and follows the revisions other
// servers save. A change that does not compile saves nothing.
package configs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tmf-platform/tmf/platform/identity"
	"github.com/tmf-platform/tmf/platform/kernel"
	"github.com/tmf-platform/tmf/platform/store"
)

// SeedAuthor is the author of a revision seeded from a configuration file.
const SeedAuthor = "file"

// StaleError is a change made from a revision that is no longer in force.
type StaleError struct {
	// Base is the revision the change was made from; Current the one in
	// force.
	Base, Current int64
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("configs: the change was made from revision %d but revision %d is in force: read it again and reapply", e.Base, e.Current)
}

// Code is the API's problem code.
func (e *StaleError) Code() string { return "config_stale" }

// Ensurer starts, before a configuration is compiled, the bizpacks it binds
// (bizpackhost.Host.Ensure); nil starts nothing.
type Ensurer func(ctx context.Context, cfg kernel.Config) error

// Source is the configuration in force and its stored history. It is safe
// for concurrent use; changes in one process are serialised.
type Source struct {
	st     *store.Store
	k      *kernel.Kernel
	ensure Ensurer
	log    *slog.Logger
	mu     sync.Mutex // serialises Boot, Change and Sync
}

// New returns a source over st that applies revisions to k.
func New(st *store.Store, k *kernel.Kernel, ensure Ensurer, log *slog.Logger) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{st: st, k: k, ensure: ensure, log: log}
}

// Boot applies the latest stored revision, or, when the store holds none,
// saves fallback as revision 1 and applies it. It returns the configuration
// put in force.
func (s *Source) Boot(ctx context.Context, fallback kernel.Config) (kernel.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, err := s.load(ctx)
	if errors.Is(err, store.ErrNotFound) {
		cfg = fallback
		cfg.Revision = 1
		if _, err := s.compile(ctx, cfg); err != nil {
			return kernel.Config{}, err
		}
		body, err := json.Marshal(cfg)
		if err != nil {
			return kernel.Config{}, err
		}
		if _, err := s.st.SaveConfig(ctx, 0, store.ConfigRevision{Body: body, Author: SeedAuthor}); err != nil && !errors.Is(err, store.ErrStale) {
			return kernel.Config{}, fmt.Errorf("configs: seed revision 1: %w", err)
		}
		// Stale: another server seeded first; take what it saved.
		if cfg, err = s.load(ctx); err != nil {
			return kernel.Config{}, err
		}
	} else if err != nil {
		return kernel.Config{}, err
	}
	if err := s.apply(ctx, cfg); err != nil {
		return kernel.Config{}, err
	}
	return cfg, nil
}

// load reads the latest stored revision.
func (s *Source) load(ctx context.Context) (kernel.Config, error) {
	rev, err := s.st.LatestConfig(ctx)
	if err != nil {
		return kernel.Config{}, err
	}
	var cfg kernel.Config
	if err := json.Unmarshal(rev.Body, &cfg); err != nil {
		return kernel.Config{}, fmt.Errorf("configs: stored revision %d: %w", rev.Revision, err)
	}
	cfg.Revision = rev.Revision
	return cfg, nil
}

// start starts the bizpacks cfg binds that are not running yet, so that
// cfg can compile. One that does not start is logged, and its cause is
// returned for the refusal of cfg (see withStartCause).
func (s *Source) start(ctx context.Context, cfg kernel.Config) error {
	if s.ensure == nil {
		return nil
	}
	err := s.ensure(ctx, cfg)
	if err != nil {
		s.log.Warn("bizpacks the configuration binds did not start", "revision", cfg.Revision, "error", err)
	}
	return err
}

// withStartCause adds to a refused configuration why the bizpacks it binds
// did not start (a checksum that does not match, a crash at start): the
// compile alone can only say that they are unknown.
func withStartCause(err, startErr error) error {
	if err == nil || startErr == nil {
		return err
	}
	return fmt.Errorf("%w (bizpacks it binds did not start: %v)", err, startErr)
}

// compile starts what cfg binds and compiles it without putting it in force.
func (s *Source) compile(ctx context.Context, cfg kernel.Config) (*kernel.PlanSet, error) {
	startErr := s.start(ctx, cfg)
	ps, err := s.k.Compile(cfg)
	return ps, withStartCause(err, startErr)
}

// apply starts what cfg binds and puts it in force.
func (s *Source) apply(ctx context.Context, cfg kernel.Config) error {
	startErr := s.start(ctx, cfg)
	_, err := s.k.Apply(cfg)
	return withStartCause(err, startErr)
}

// Current is the configuration in force.
func (s *Source) Current() kernel.Config { return s.k.Config() }

// Edit changes a copy of the configuration in force.
type Edit func(cfg *kernel.Config) error

// Preview applies edit to a copy of the configuration in force and compiles
// it, saving and applying nothing. It returns the edited configuration and
// its plans; a configuration that does not compile is a *kernel.ConfigError
// with every problem (the edited configuration is still returned).
func (s *Source) Preview(ctx context.Context, edit Edit) (kernel.Config, *kernel.PlanSet, error) {
	next, err := s.edited(edit)
	if err != nil {
		return kernel.Config{}, nil, err
	}
	plans, err := s.compile(ctx, next)
	return next, plans, err
}

func (s *Source) edited(edit Edit) (kernel.Config, error) {
	cur := s.k.Config()
	next, err := clone(cur)
	if err != nil {
		return kernel.Config{}, err
	}
	if err := edit(&next); err != nil {
		return kernel.Config{}, err
	}
	next.Revision = cur.Revision + 1
	return next, nil
}

// Unchanged reports whether what a change is about is the same in the
// revision the change was made from (base) and in the one in force
// (current): if so, the change applies to current as it would have to base.
type Unchanged func(base, current kernel.Config) bool

// IdentityUnchanged is the Unchanged of a change to one identity: its
// configuration and the rules that resolve to it.
func IdentityUnchanged(code identity.Code) Unchanged {
	return func(base, current kernel.Config) bool {
		bs, br, bok := Identity(base, code)
		cs, cr, cok := Identity(current, code)
		if bok != cok {
			return false
		}
		a, _ := json.Marshal(struct {
			S kernel.IdentitySpec
			R []identity.Rule
		}{bs, br})
		b, _ := json.Marshal(struct {
			S kernel.IdentitySpec
			R []identity.Rule
		}{cs, cr})
		return string(a) == string(b)
	}
}

// Change applies edit to the configuration in force and, when the result
// compiles, saves it as the next revision together with the audit entries
// audit returns (one transaction), then puts it in force. base is the
// revision the caller edited from (0: whatever is in force). When another
// revision is in force, the change still applies if unchanged (non-nil)
// says that what it is about is the same in both (another identity was
// changed meanwhile); otherwise, or when a revision was saved meanwhile by
// another server, it is a *StaleError. Nothing is saved when the result
// does not compile (*kernel.ConfigError).
func (s *Source) Change(ctx context.Context, base int64, author string, edit Edit, unchanged Unchanged,
	audit func(before, after kernel.Config) []store.AuditEntry) (kernel.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.k.Config()
	if base != 0 && base != cur.Revision {
		if err := s.rebase(ctx, base, cur, unchanged); err != nil {
			return kernel.Config{}, err
		}
	}
	next, err := s.edited(edit)
	if err != nil {
		return kernel.Config{}, err
	}
	if _, err := s.compile(ctx, next); err != nil {
		return kernel.Config{}, err
	}
	body, err := json.Marshal(next)
	if err != nil {
		return kernel.Config{}, err
	}
	var entries []store.AuditEntry
	if audit != nil {
		entries = audit(cur, next)
	}
	if stored, err := s.st.LatestConfigRevision(ctx); err != nil {
		return kernel.Config{}, err
	} else if stored == 0 && cur.Revision > 0 {
		// A store that never held a revision (the kernel was configured
		// some other way): save the one in force first, as its history.
		if _, err := s.st.SaveConfig(ctx, cur.Revision-1, store.ConfigRevision{Body: mustJSON(cur), Author: SeedAuthor}); err != nil &&
			!errors.Is(err, store.ErrStale) {
			return kernel.Config{}, err
		}
	}
	if _, err := s.st.SaveConfig(ctx, cur.Revision, store.ConfigRevision{Body: body, Author: author}, entries...); err != nil {
		if errors.Is(err, store.ErrStale) {
			latest, _ := s.st.LatestConfigRevision(ctx)
			return kernel.Config{}, &StaleError{Base: cur.Revision, Current: latest}
		}
		return kernel.Config{}, err
	}
	if _, err := s.k.Apply(next); err != nil {
		// Saved but refused here (a bizpack went away between compile and
		// apply): the revision stays the latest and Sync retries it.
		return kernel.Config{}, fmt.Errorf("configs: revision %d saved but not applied: %w", next.Revision, err)
	}
	return next, nil
}

// rebase decides whether a change made from revision base may apply to
// cur: base must be a stored revision older than cur, and unchanged must
// hold between them.
func (s *Source) rebase(ctx context.Context, base int64, cur kernel.Config, unchanged Unchanged) error {
	stale := &StaleError{Base: base, Current: cur.Revision}
	if unchanged == nil || base > cur.Revision {
		return stale
	}
	rev, err := s.st.ConfigAt(ctx, base)
	if errors.Is(err, store.ErrNotFound) {
		return stale
	}
	if err != nil {
		return err
	}
	var old kernel.Config
	if err := json.Unmarshal(rev.Body, &old); err != nil {
		return fmt.Errorf("configs: stored revision %d: %w", base, err)
	}
	if !unchanged(old, cur) {
		return stale
	}
	return nil
}

// Sync applies the latest stored revision when it is newer than the one in
// force (saved by another server). It reports whether it applied one.
func (s *Source) Sync(ctx context.Context) (bool, error) {
	n, err := s.st.LatestConfigRevision(ctx)
	if err != nil || n <= s.k.Config().Revision {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, err := s.load(ctx)
	if err != nil || cfg.Revision <= s.k.Config().Revision {
		return false, err
	}
	if err := s.apply(ctx, cfg); err != nil {
		return false, fmt.Errorf("configs: revision %d: %w", cfg.Revision, err)
	}
	s.log.Info("configuration revision in force", "revision", cfg.Revision)
	return true, nil
}

// Follow calls Sync every interval until ctx ends, logging failures.
func (s *Source) Follow(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Sync(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("follow configuration revisions", "error", err)
			}
		}
	}
}

func clone(cfg kernel.Config) (kernel.Config, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return kernel.Config{}, err
	}
	var out kernel.Config
	err = json.Unmarshal(b, &out)
	return out, err
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// PutIdentity is an Edit that adds spec, or replaces the identity of its
// code, and replaces the resolution rules to that identity with rules (each
// rule's Identity is set to the code).
func PutIdentity(spec kernel.IdentitySpec, rules []identity.Rule) Edit {
	return func(cfg *kernel.Config) error {
		if err := spec.Code.Validate(); err != nil {
			return err
		}
		i := slices.IndexFunc(cfg.Identities, func(s kernel.IdentitySpec) bool { return s.Code == spec.Code })
		if i >= 0 {
			cfg.Identities[i] = spec
		} else {
			cfg.Identities = append(cfg.Identities, spec)
		}
		cfg.Rules = slices.DeleteFunc(cfg.Rules, func(r identity.Rule) bool { return r.Identity == spec.Code })
		for _, r := range rules {
			r.Identity = spec.Code
			cfg.Rules = append(cfg.Rules, r)
		}
		return nil
	}
}

// Identity returns the configured identity of code in cfg and the rules
// that resolve to it.
func Identity(cfg kernel.Config, code identity.Code) (kernel.IdentitySpec, []identity.Rule, bool) {
	i := slices.IndexFunc(cfg.Identities, func(s kernel.IdentitySpec) bool { return s.Code == code })
	if i < 0 {
		return kernel.IdentitySpec{}, nil, false
	}
	var rules []identity.Rule
	for _, r := range cfg.Rules {
		if r.Identity == code {
			rules = append(rules, r)
		}
	}
	return cfg.Identities[i], rules, true
}
