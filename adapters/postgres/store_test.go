package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passhub/passhub/adapters/postgres"
	"github.com/passhub/passhub/adapters/postgres/pgtest"
	"github.com/passhub/passhub/adapters/storetest"
	"github.com/passhub/passhub/core"
)

func open(t *testing.T, dsn string, opts postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn, opts)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return open(t, pgtest.NewDatabase(t), postgres.Options{MaxConns: 8})
	})
}

// Concurrent starts migrate once: the advisory lock serialises them and
// the second finds the work done.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewEmptyDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = postgres.Migrate(t.Context(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Migrate %d: %v", i, err)
		}
	}
	s := open(t, dsn, postgres.Options{Migrate: true})
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestOpenMigratesOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgtest.NewEmptyDatabase(t)
	plain := open(t, dsn, postgres.Options{})
	if _, err := plain.WorkspaceByName(ctx, "x"); err == nil || errors.Is(err, core.ErrNotFound) {
		t.Fatalf("WorkspaceByName on an unmigrated database: %v, want a missing-table error", err)
	}
	migrated := open(t, dsn, postgres.Options{Migrate: true})
	if _, err := migrated.WorkspaceByName(ctx, "x"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("WorkspaceByName after Open with Migrate: %v, want ErrNotFound", err)
	}
	// Migrating again is a no-op.
	if err := postgres.Migrate(ctx, dsn); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
}

func TestOptions(t *testing.T) {
	if err := (postgres.Options{MinConns: 5, MaxConns: 2}).Validate(); err == nil {
		t.Error("Validate accepted MinConns > MaxConns")
	}
	if err := (postgres.Options{}).Validate(); err != nil {
		t.Errorf("Validate of zero options: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", postgres.Options{}); err == nil {
		t.Error("Open of an unreachable server succeeded")
	}
}

// The URL's pool settings win over the options' defaults: an operator
// sizes the pool in PASSHUB_DATABASE_URL.
func TestOpenPoolSize(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	for _, tc := range []struct {
		dsn    string
		opts   postgres.Options
		lo, hi int32
	}{
		{dsn, postgres.Options{}, 0, postgres.DefaultMaxConns},
		{dsn, postgres.Options{MaxConns: 7, MinConns: 1}, 1, 7},
		{dsn + sep + "pool_max_conns=33&pool_min_conns=2", postgres.Options{MaxConns: 7, Migrate: true}, 2, 33},
	} {
		lo, hi := postgres.PoolSize(open(t, tc.dsn, tc.opts))
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("%s with %+v: pool %d..%d, want %d..%d", tc.dsn, tc.opts, lo, hi, tc.lo, tc.hi)
		}
	}
}

// Pass changes commit synchronously; only the outbox's bookkeeping does
// not wait for the disk (see Store.jobs).
func TestBookkeepingPoolSettings(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.NewDatabase(t), postgres.Options{})
	for _, tt := range []struct{ name, main, jobs string }{
		// Bookkeeping commits without waiting for the disk...
		{"synchronous_commit", "on", "off"},
		// ...and its key-driven statements are planned once per connection.
		{"plan_cache_mode", "auto", "force_generic_plan"},
	} {
		main, jobs, err := postgres.Settings(t.Context(), s, tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if main != tt.main || jobs != tt.jobs {
			t.Errorf("%s: main pool %q, bookkeeping pool %q; want %s, %s", tt.name, main, jobs, tt.main, tt.jobs)
		}
	}
}

// UpdatePass runs its transaction in two round trips on a connection it
// drives itself (BEGIN and COMMIT in the batches): every way it can fail
// must end that transaction, or the pool's few connections would be
// left inside one.
func TestUpdatePassFailuresEndTheirTransaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, pgtest.NewDatabase(t), postgres.Options{MaxConns: 2})
	svc := core.NewService(s)
	ws, _, err := svc.CreateWorkspace(ctx, "tx", "")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := svc.CreateTemplate(ctx, ws.ID, core.Template{Name: "card", Style: core.StyleStoreCard, OrganizationName: "Shop"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.CreatePass(ctx, ws.ID, core.PassInput{TemplateID: tpl.ID, ExternalID: "c1", Data: map[string]any{"points": 1.0}})
	if err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused by the change")
	failures := []struct {
		name string
		id   string
		fn   func(*core.Pass) ([]core.Event, error)
		want func(error) bool
	}{
		{"no such pass", "pas_missing", nil, func(err error) bool { return errors.Is(err, core.ErrNotFound) }},
		{"the change refuses", p.ID, func(*core.Pass) ([]core.Event, error) { return nil, refused },
			func(err error) bool { return errors.Is(err, refused) }},
		{"the write fails (NUL in the data)", p.ID, func(q *core.Pass) ([]core.Event, error) {
			q.Data["name"] = "a\x00b"
			q.Version++
			return []core.Event{core.NewEvent(core.EventUpdated, q, time.Now())}, nil
		}, func(err error) bool { return errors.Is(err, core.ErrInvalid) }},
		{"nothing changes", p.ID, func(*core.Pass) ([]core.Event, error) { return nil, nil }, func(err error) bool { return err == nil }},
	}
	for range 3 { // more rounds than the pool has connections
		for _, f := range failures {
			if _, err := s.UpdatePass(ctx, ws.ID, f.id, f.fn); !f.want(err) {
				t.Fatalf("%s: err = %v", f.name, err)
			}
		}
	}
	// Nothing of the failed writes stayed, and the store still writes.
	if _, err := svc.UpdatePass(ctx, ws.ID, p.ID, core.PassPatch{Data: map[string]any{"points": 2.0}}); err != nil {
		t.Fatalf("update after the failures: %v", err)
	}
	got, err := svc.Pass(ctx, ws.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != p.Version+1 || got.Data["points"] != 2.0 || got.Data["name"] != nil {
		t.Errorf("pass after the failures and one update: version %d, data %v; want version %d, points 2", got.Version, got.Data, p.Version+1)
	}
	evs, _, err := s.ListEvents(ctx, ws.ID, core.EventQuery{Page: core.Page{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 { // record_added, then the one update
		t.Errorf("%d events, want 2: %+v", len(evs), evs)
	}
}

// PostgreSQL reads a claimed trigger's source in the accepting statement,
// so its local run reads neither the trigger nor its connector back.
func TestAcceptHandsAClaimedTriggerOverWithItsSource(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, pgtest.NewDatabase(t), postgres.Options{})
	at := time.Now().UTC()
	ws, _, err := core.NewService(s).CreateWorkspace(ctx, "w", "")
	if err != nil {
		t.Fatal(err)
	}
	c := core.Connector{ID: core.NewID(core.PrefixConnector), WorkspaceID: ws.ID, Name: "shop", Kind: core.ConnectorShopify,
		Config: []byte(`{}`), SecretsSealed: []byte{1}, Mapping: "orders", CreatedAt: at, UpdatedAt: at}
	if err := s.CreateConnector(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutMapping(ctx, ws.ID, "orders", "rules: []", at); err != nil {
		t.Fatal(err)
	}
	tr := core.Trigger{ID: core.NewID(core.PrefixTrigger), WorkspaceID: ws.ID, ConnectorID: c.ID, Topic: "orders/paid", DedupeKey: "d1",
		Payload: []byte(`{"id":1}`), ReceivedAt: at, Claim: true}
	got, err := s.AcceptTriggers(ctx, []core.Trigger{tr})
	if err != nil {
		t.Fatal(err)
	}
	l := got[0].Loaded
	if l == nil {
		t.Fatal("a claimed trigger came back without its source")
	}
	want := core.TriggerSource{ConnectorKind: core.ConnectorShopify, Mapping: "orders", MappingVersion: 1}
	if l.Source != want || l.Trigger.ID != tr.ID || string(l.Trigger.Payload) != `{"id":1}` || l.Trigger.Status != core.TriggerReceived {
		t.Errorf("loaded = %+v, want the trigger as stored with source %+v", l, want)
	}
}
