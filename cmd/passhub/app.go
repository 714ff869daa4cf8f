package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/passhub/passhub/adapters/apple"
	"github.com/passhub/passhub/adapters/google"
	"github.com/passhub/passhub/adapters/google/callback"
	"github.com/passhub/passhub/adapters/httpapi"
	"github.com/passhub/passhub/adapters/postgres"
	"github.com/passhub/passhub/adapters/queue"
	"github.com/passhub/passhub/adapters/secretbox"
	"github.com/passhub/passhub/adapters/sqlite"
	"github.com/passhub/passhub/adapters/webhooks"
	"github.com/passhub/passhub/connectors"
	"github.com/passhub/passhub/core"
	"github.com/passhub/passhub/mappings"
)

// store is everything passhub needs of its database.
type store interface {
	core.Store
	core.JobStore
	core.ChainStore
	core.IdempotencyStore
	core.AppleStore
	core.GoogleCredentialStore
	core.GoogleCallbackStore
	core.ConnectorStore
	core.MappingStore
	core.HistoryStore
	core.WebhookStore
	core.Pinger
}

// app is what every subcommand shares: logger, store, service.
type app struct {
	cfg     Config
	log     *slog.Logger
	store   store
	close   func()
	service *core.Service
	box     *secretbox.Box
	reg     *prometheus.Registry
	issuer  *apple.Issuer
	passkit *core.PassKit
	pusher  *apple.Pusher
	wallet  *google.Wallet
	intake  *connectors.Intake
	hooks   *webhooks.Manager
	guard   *webhooks.Guard
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: cfg.slogLevel()}))
}

// openApp opens (and migrates) the store named by the config.
func openApp(ctx context.Context, cfg Config, stderr io.Writer) (*app, error) {
	log := newLogger(cfg, stderr)
	key, err := cfg.loadMasterKey()
	if err != nil {
		return nil, err
	}
	box, err := secretbox.New(key)
	if err != nil {
		return nil, fmt.Errorf("loading master key: %w", err)
	}
	a := &app{cfg: cfg, log: log, box: box, reg: prometheus.NewRegistry()}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cfg.DatabaseURL == "" {
		if err := mkdirData(cfg.DataDir); err != nil {
			return nil, err
		}
		s, err := sqlite.Open(ctx, cfg.sqlitePath())
		if err != nil {
			return nil, fmt.Errorf("opening SQLite store %s: %w", cfg.sqlitePath(), err)
		}
		a.store, a.close = s, func() { _ = s.Close() }
	} else {
		s, err := postgres.Open(ctx, string(cfg.DatabaseURL), postgres.Options{Migrate: true})
		if err != nil {
			return nil, fmt.Errorf("opening PostgreSQL store: %w", err)
		}
		a.store, a.close = s, s.Close
	}
	a.service = core.NewService(a.store)
	a.passkit = core.NewPassKit(a.store)
	a.issuer = apple.NewIssuer(a.store, box, cfg.PublicURL, renderCacheSize)
	apns, err := newAPNs(cfg)
	if err != nil {
		a.close()
		return nil, err
	}
	a.pusher = apple.NewPusher(a.store, a.issuer, apns, log)
	a.wallet = google.NewWallet(a.store, box, google.WalletConfig{
		BaseURL: cfg.GoogleAPIURL, PublicURL: cfg.PublicURL, Origins: cfg.GoogleOrigins, Log: log,
	})
	a.intake = connectors.New(a.store, box, cfg.PublicURL)
	a.guard = webhooks.NewGuard(cfg.WebhooksAllowPrivate)
	if a.hooks, err = webhooks.NewManager(webhooks.Config{Store: a.store, Box: box, URLs: a.guard}); err != nil {
		a.close()
		return nil, fmt.Errorf("building webhooks: %w", err)
	}
	return a, nil
}

// loadMappings stores every mapping file of PASSHUB_MAPPINGS_DIR in the
// workspace "default" as a new version when its text differs from the
// latest. A file that does not load stops the start, naming file, line
// and rule. Template names are resolved when a trigger is mapped (the
// templates may not exist yet at first start).
func (a *app) loadMappings(ctx context.Context) error {
	dir := a.cfg.MappingsDir
	if dir == "" {
		return nil
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return fmt.Errorf("PASSHUB_MAPPINGS_DIR: %w", err)
	}
	// Every file is read and checked before any is stored: a bad file
	// stops the start without leaving half the directory loaded.
	type file struct{ name, src string }
	var files []file
	var problems []error
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.yaml") {
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("PASSHUB_MAPPINGS_DIR: %w", err)
		}
		if _, err := mappings.Load(filepath.Base(path), src, mappings.AnyTemplate); err != nil {
			problems = append(problems, err)
			continue
		}
		files = append(files, file{strings.TrimSuffix(filepath.Base(path), ".yaml"), string(src)})
	}
	if len(problems) > 0 {
		return fmt.Errorf("PASSHUB_MAPPINGS_DIR: %w", errors.Join(problems...))
	}
	ws, err := a.store.WorkspaceByName(ctx, "default")
	if err != nil {
		return fmt.Errorf("PASSHUB_MAPPINGS_DIR: the mappings go to workspace \"default\": %w", err)
	}
	for _, f := range files {
		cur, err := a.store.Mapping(ctx, ws.ID, f.name)
		if err == nil && cur.Source == f.src {
			continue
		}
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			return fmt.Errorf("PASSHUB_MAPPINGS_DIR: reading mapping %s: %w", f.name, err)
		}
		mf, err := a.store.PutMapping(ctx, ws.ID, f.name, f.src, time.Now().UTC().Truncate(time.Microsecond))
		if err != nil {
			return fmt.Errorf("PASSHUB_MAPPINGS_DIR: storing mapping %s: %w", f.name, err)
		}
		a.log.Info("mapping loaded", "name", f.name, "version", mf.Version, "workspaceId", ws.ID)
	}
	return nil
}

// renderCacheSize bounds the rendered-pass cache (unsigned files of one
// pass version each, a few KB plus the template's images).
const renderCacheSize = 10000

// newAPNs builds the APNs client pool; PASSHUB_APNS_CA_FILE adds roots
// (a local mock's CA) to the system ones.
func newAPNs(cfg Config) (*apple.APNs, error) {
	apnsCfg := apple.APNsConfig{BaseURL: cfg.APNsURL}
	if cfg.APNsCAFile != "" {
		pemBytes, err := os.ReadFile(cfg.APNsCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading PASSHUB_APNS_CA_FILE: %w", err)
		}
		roots, err := x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("invalid PASSHUB_APNS_CA_FILE %s: no PEM certificates in it", cfg.APNsCAFile)
		}
		apnsCfg.RootCAs = roots
	}
	return apple.NewAPNs(apnsCfg), nil
}

// bootstrap ensures there is a workspace to log in to: the bootstrap key's
// workspace "default", or on a store without it a new one whose admin key
// is printed once.
func (a *app) bootstrap(ctx context.Context, stdout io.Writer) error {
	if a.cfg.BootstrapKey != "" {
		ws, err := a.service.EnsureWorkspaceKey(ctx, "default", string(a.cfg.BootstrapKey), core.RoleAdmin)
		if err != nil {
			return fmt.Errorf("applying PASSHUB_BOOTSTRAP_KEY: %w", err)
		}
		a.log.Info("bootstrap key active", "workspaceId", ws.ID)
		return nil
	}
	_, err := a.store.WorkspaceByName(ctx, "default")
	if err == nil {
		return nil
	}
	if !errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("looking up workspace default: %w", err)
	}
	ws, secret, err := a.service.CreateWorkspace(ctx, "default", "")
	if errors.Is(err, core.ErrConflict) {
		return nil // another process made it first
	}
	if err != nil {
		return err
	}
	// Printed, never logged: this is the only time the key is shown.
	fmt.Fprintf(stdout, "\nCreated workspace \"default\" (%s).\nIts admin API key, shown only this once:\n\n    %s\n\n", ws.ID, secret)
	return nil
}

// runServer runs serve, api, worker or migrate until ctx ends.
func runServer(ctx context.Context, mode string, cfg Config, stdout, stderr io.Writer) error {
	if mode == "migrate" && cfg.DatabaseURL != "" {
		if err := postgres.Migrate(ctx, string(cfg.DatabaseURL)); err != nil {
			return fmt.Errorf("migrating PostgreSQL: %w", err)
		}
		fmt.Fprintln(stdout, "migrations applied")
		return nil
	}
	a, err := openApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	if mode == "migrate" {
		fmt.Fprintln(stdout, "migrations applied")
		return nil
	}
	a.log.Info("starting passhub", "mode", mode, "version", versionString(), "config", cfg)

	runAPI := mode == "serve" || mode == "api"
	runWorker := mode == "serve" || mode == "worker"
	readiness := map[string]core.Pinger{"store": a.store}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var notify func()

	if runWorker {
		w, err := a.startWorker(ctx, &wg, cancel)
		if err != nil {
			return err
		}
		defer w.stop()
		readiness["redis"] = w.redis
		notify = w.notify
	}
	if runAPI && !runWorker && cfg.RedisURL != "" {
		// The API half enqueues nothing, but readiness still reports the
		// Redis its workers depend on.
		opt, err := queue.ParseRedisURL(string(cfg.RedisURL))
		if err != nil {
			return fmt.Errorf("invalid PASSHUB_REDIS_URL: %w", err)
		}
		p, err := queue.NewPinger(opt)
		if err != nil {
			return fmt.Errorf("connecting to Redis: %w", err)
		}
		defer p.Close()
		readiness["redis"] = p
	}
	if cfg.DebugAddr != "" {
		if err := a.startDebug(ctx, &wg, cancel); err != nil {
			return err
		}
	}
	if runAPI {
		if err := a.bootstrap(ctx, stdout); err != nil {
			return err
		}
		if err := a.loadMappings(ctx); err != nil {
			return err
		}
		if err := a.startAPI(ctx, &wg, cancel, readiness, notify); err != nil {
			return err
		}
	}
	<-ctx.Done()
	a.log.Info("stopping passhub", "reason", context.Cause(ctx))
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// startAPI serves HTTP until ctx ends, then drains in-flight requests.
func (a *app) startAPI(ctx context.Context, wg *sync.WaitGroup, fail context.CancelCauseFunc, readiness map[string]core.Pinger, onCommit func()) error {
	api, err := httpapi.New(httpapi.Config{
		Service:      a.service,
		Idempotency:  a.store,
		Readiness:    readiness,
		Logger:       a.log,
		Registerer:   a.reg,
		Gatherer:     a.reg,
		MaxBodyBytes: a.cfg.MaxBodyBytes,
		Version:      versionString(),
		OnCommit:     onCommit,
		Apple: &httpapi.AppleConfig{
			PassKit: a.passkit, Issuer: a.issuer, Pusher: a.pusher, Store: a.store, PublicURL: a.cfg.PublicURL,
		},
		Connectors: &httpapi.ConnectorsConfig{Intake: a.intake, Store: a.store},
		Webhooks:   &httpapi.WebhooksConfig{Manager: a.hooks},
		Google: &httpapi.GoogleConfig{
			Wallet: a.wallet, Store: a.store,
			Verifier: callback.NewVerifier(callback.Config{KeysURL: a.cfg.GoogleKeysURL, SenderID: a.cfg.GoogleSenderID}),
		},
	})
	if err != nil {
		return fmt.Errorf("building API: %w", err)
	}
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on PASSHUB_ADDR %s: %w", a.cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	a.log.Info("API listening", "addr", ln.Addr().String(), "publicURL", a.cfg.PublicURL)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fail(fmt.Errorf("serving HTTP: %w", err))
		}
	}()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			a.log.Warn("HTTP shutdown incomplete", "err", err)
		}
	}()
	return nil
}

// startDebug serves Go's profiles on PASSHUB_DEBUG_ADDR (loopback, checked
// by the config) until ctx ends: how an operator finds what bounds a
// running passhub (go tool pprof http://ADDR/debug/pprof/profile).
func (a *app) startDebug(ctx context.Context, wg *sync.WaitGroup, fail context.CancelCauseFunc) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", a.cfg.DebugAddr)
	if err != nil {
		return fmt.Errorf("listening on PASSHUB_DEBUG_ADDR %s: %w", a.cfg.DebugAddr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	a.log.Info("profiles served", "addr", ln.Addr().String())
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fail(fmt.Errorf("serving profiles: %w", err))
		}
	}()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		srv.Close()
	}()
	return nil
}

// googleNonceTTL is how long callback nonces are remembered: far longer
// than a callback stays valid, and a replay older than that is stale
// against the pass's last applied callback anyway.
const googleNonceTTL = 7 * 24 * time.Hour

func (a *app) purgeGoogleNonces() queue.Chore {
	return queue.Chore{
		Name:     "purge-google-nonces",
		Interval: time.Hour,
		Run: func(ctx context.Context) error {
			n, err := a.store.PurgeGoogleNonces(ctx, time.Now().Add(-googleNonceTTL))
			if err != nil {
				return fmt.Errorf("purging Google callback nonces: %w", err)
			}
			if n > 0 {
				a.log.Info("purged Google callback nonces", "count", n)
			}
			return nil
		},
	}
}

// purgeHistory keeps the outbox and the push log from growing without
// bound: every event leaves finished jobs and every push a log row.
func (a *app) purgeHistory() queue.Chore {
	return queue.Chore{
		Name:     "purge-history",
		Interval: time.Hour,
		Run: func(ctx context.Context) error {
			n, err := a.store.PurgeHistory(ctx, time.Now().Add(-a.cfg.Retention))
			if err != nil {
				return fmt.Errorf("purging history: %w", err)
			}
			if n.Jobs+n.PushLogs > 0 {
				a.log.Info("purged history", "jobs", n.Jobs, "pushLogs", n.PushLogs)
			}
			return nil
		},
	}
}

func mkdirData(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating PASSHUB_DATA_DIR %s: %w", dir, err)
	}
	return nil
}

// worker is the running worker half: the queue, relay and sweeper.
type worker struct {
	redis  core.Pinger
	notify func()
	stop   func()
}

// startWorker starts Redis (embedded unless configured), the task
// server, the relay and sweeper, and housekeeping. stop drains the task
// server and closes what was opened, in that order.
func (a *app) startWorker(ctx context.Context, wg *sync.WaitGroup, fail context.CancelCauseFunc) (*worker, error) {
	var closers []func()
	stop := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	var opt asynq.RedisConnOpt
	if a.cfg.RedisURL == "" {
		emb, err := queue.StartEmbedded(ctx)
		if err != nil {
			return nil, fmt.Errorf("starting the in-process Redis: %w", err)
		}
		closers = append(closers, emb.Close)
		opt = emb.RedisOpt()
		a.log.Info("in-process Redis started (not durable; the store re-drives lost work)", "addr", emb.Addr())
	} else {
		o, err := queue.ParseRedisURL(string(a.cfg.RedisURL))
		if err != nil {
			return nil, fmt.Errorf("invalid PASSHUB_REDIS_URL: %w", err)
		}
		opt = o
	}
	// A webhook message follows its own schedule (8 attempts over about
	// 28 hours, the Deliverer counts them): the queue must not give up first.
	routing := queue.Routing{Kinds: map[string]queue.KindOptions{
		core.JobKindWebhookDeliver: {MaxRetry: 10, Timeout: time.Minute},
	}}.WithDefaults()
	enq, err := queue.NewEnqueuer(opt, queue.EnqueuerConfig{Routing: routing})
	if err != nil {
		stop()
		return nil, fmt.Errorf("connecting the enqueuer: %w", err)
	}
	closers = append(closers, func() { _ = enq.Close() })

	relayer, err := queue.NewRelayer(&core.Relay{Store: a.store, Queue: enq}, queue.RelayConfig{
		StaleAge: a.cfg.SweepAfter,
		// Look a few times per StaleAge, so a lost job waits little more than it.
		SweepInterval: min(max(a.cfg.SweepAfter/4, 250*time.Millisecond), 30*time.Second),
		Logger:        a.log,
		Registerer:    a.reg,
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("building the relay: %w", err)
	}
	runner := core.NewJobRunner(a.store)
	// Fan-out children (a dispatch's push jobs) reach the queue at once.
	runner.OnChildren = relayer.Notify
	consumer, err := webhooks.NewConsumer(webhooks.ConsumerConfig{Store: a.store})
	if err != nil {
		stop()
		return nil, fmt.Errorf("building the webhook consumer: %w", err)
	}
	deliverer, err := webhooks.NewDeliverer(webhooks.DelivererConfig{
		Store: a.store, Keys: a.hooks, Client: a.guard.Client(a.cfg.WorkerConcurrency), Logger: a.log,
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("building the webhook deliverer: %w", err)
	}
	runner.Handle(core.JobKindDispatch, core.NewDispatcher(a.store, a.pusher, a.wallet, consumer))
	runner.Handle(core.JobKindWebhookDeliver, deliverer)
	runner.Handle(google.JobSync, a.wallet)
	runner.Handle(google.JobClass, a.wallet)
	runner.Handle(core.JobKindTriggerApply, connectors.NewApplier(a.store, a.service))
	runner.Handle(apple.JobPush, a.pusher)
	runner.Handle(apple.JobTemplatePush, a.pusher)
	// The worker that wrote an event runs its dispatch, and the dispatch's
	// push and sync jobs, itself: one queue hop from trigger to APNs.
	runner.Chain(a.store, apple.JobPush, google.JobSync)
	w, err := queue.NewWorker(queue.WorkerConfig{
		Redis:           opt,
		Runner:          runner,
		Routing:         routing,
		Concurrency:     a.cfg.WorkerConcurrency,
		TaskPoll:        a.cfg.TaskPoll,
		ShutdownTimeout: a.cfg.ShutdownTimeout,
		Logger:          a.log,
		Registerer:      a.reg,
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("building the worker: %w", err)
	}
	if err := w.Start(); err != nil {
		stop()
		return nil, fmt.Errorf("starting the worker: %w", err)
	}
	closers = append(closers, w.Shutdown)
	// A webhook this process accepts runs here at once, while it has as
	// many runs under way as it has workers; beyond that it queues.
	local := runner.Local(a.cfg.WorkerConcurrency)
	a.intake.RunLocally(local)
	closers = append(closers, func() { local.Stop(a.cfg.ShutdownTimeout) })

	wg.Go(func() {
		if err := relayer.Run(ctx); err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("relay: %w", err))
		}
	})
	wg.Go(func() {
		err := queue.RunChores(ctx, a.log, queue.PurgeIdempotencyKeys(a.store, httpapi.IdempotencyTTL, a.log), a.purgeGoogleNonces(), a.purgeHistory())
		if err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("housekeeping: %w", err))
		}
	})
	return &worker{redis: w, notify: relayer.Notify, stop: stop}, nil
}
