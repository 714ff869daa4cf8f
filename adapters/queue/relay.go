package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/passhub/passhub/core"
)

// Relay defaults.
const (
	DefaultPollInterval    = 100 * time.Millisecond
	DefaultSweepInterval   = 30 * time.Second
	DefaultStaleAge        = 2 * time.Minute
	DefaultRelayBatch      = 500
	DefaultRelayMaxBackoff = 10 * time.Second
)

// RelayConfig configures a Relayer. StaleAge and Batch, when zero, are
// taken from the core.Relay, and failing that from the defaults.
type RelayConfig struct {
	// PollInterval is how often pending jobs are looked for (default
	// 100ms); a full batch is followed at once by the next read, and
	// Notify cuts the wait short.
	PollInterval time.Duration
	// SweepInterval is how often stale jobs are re-driven (default 30s).
	SweepInterval time.Duration
	// StaleAge is how long an enqueued job may stay not done before the
	// sweeper enqueues it again (default 2m). Shorter re-drives lost
	// tasks sooner; re-driving a live task costs one Redis round trip.
	StaleAge time.Duration
	// Batch is how many jobs one read takes (default 500).
	Batch int
	// MaxBackoff caps the wait after consecutive store or Redis errors
	// (default 10s).
	MaxBackoff time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the relay counters; nil means none.
	Registerer prometheus.Registerer
}

func (c *RelayConfig) setDefaults(r *core.Relay) {
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.StaleAge == 0 {
		c.StaleAge = cmp.Or(r.StaleAge, DefaultStaleAge)
	}
	if c.Batch == 0 {
		c.Batch = cmp.Or(r.Batch, DefaultRelayBatch)
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultRelayMaxBackoff
	}
	c.Logger = loggerOrDefault(c.Logger)
}

// Validate checks the configuration.
func (c RelayConfig) Validate() error {
	if c.PollInterval < 0 || c.SweepInterval < 0 || c.StaleAge < 0 || c.MaxBackoff < 0 {
		return errors.New("relay: negative interval")
	}
	if c.Batch < 0 {
		return fmt.Errorf("relay: negative batch %d", c.Batch)
	}
	return nil
}

// Relayer runs a core.Relay: it polls pending jobs into the queue and
// periodically sweeps stale ones back in. Several relayers (one per
// process) may run against one store: the task ID per job makes their
// overlap harmless.
type Relayer struct {
	relay   core.Relay
	cfg     RelayConfig
	wake    chan struct{}
	metrics *relayMetrics
}

// NewRelayer returns a relayer over a copy of relay with the configured
// StaleAge and Batch.
func NewRelayer(relay *core.Relay, cfg RelayConfig) (*Relayer, error) {
	if relay == nil || relay.Store == nil || relay.Queue == nil {
		return nil, errors.New("relay: needs a store and a queue")
	}
	cfg.setDefaults(relay)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newRelayMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	r := *relay
	r.StaleAge, r.Batch = cfg.StaleAge, cfg.Batch
	return &Relayer{relay: r, cfg: cfg, wake: make(chan struct{}, 1), metrics: m}, nil
}

// RunRelay runs a relayer until ctx ends.
func RunRelay(ctx context.Context, relay *core.Relay, cfg RelayConfig) error {
	r, err := NewRelayer(relay, cfg)
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

// Notify wakes the relay now, e.g. after a commit that wrote jobs in this
// process. It never blocks; notifications while one is pending merge.
func (r *Relayer) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays and sweeps until ctx ends, then returns nil. Errors are
// logged and retried with backoff; they never stop the loops.
func (r *Relayer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { r.sweepLoop(ctx) })
	r.relayLoop(ctx)
	wg.Wait()
	return nil
}

func (r *Relayer) relayLoop(ctx context.Context) {
	log := r.cfg.Logger.With("component", "relay")
	backoff := Backoff{Base: r.cfg.PollInterval, Max: r.cfg.MaxBackoff}
	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		n, err := r.relay.RelayPending(ctx)
		if ctx.Err() != nil {
			return
		}
		r.metrics.enqueued.Add(float64(n))
		wait := r.cfg.PollInterval
		switch {
		case err != nil:
			log.Error("relaying pending jobs", "err", err, "enqueued", n)
			wait = backoff.Delay(failures)
			failures++
		case n >= r.cfg.Batch:
			failures = 0
			continue // more are waiting
		default:
			failures = 0
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-timer.C:
		}
	}
}

func (r *Relayer) sweepLoop(ctx context.Context) {
	log := r.cfg.Logger.With("component", "sweeper")
	ticker := time.NewTicker(r.cfg.SweepInterval)
	defer ticker.Stop()
	// Sweep at once on start: a process restarted after a crash picks up
	// what its predecessor left without waiting an interval.
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
		// Drain: a lost Redis can leave many more stale jobs than a batch.
		for {
			n, err := r.relay.Sweep(ctx)
			if ctx.Err() != nil {
				return
			}
			r.metrics.redriven.Add(float64(n))
			if n > 0 {
				log.Info("re-drove stale jobs", "count", n)
			}
			if err != nil {
				log.Error("sweeping stale jobs", "err", err, "redriven", n)
				break // next tick; the interval is the backoff
			}
			if n < r.cfg.Batch {
				break
			}
		}
	}
}
